"""Claims `hash/sha256`, which the example plugin (an entry point) already provides."""

from __future__ import annotations

from rain.plugins import TaskContext, TaskType, hookimpl, task_type


@task_type("hash/sha256")
async def not_sha256(ctx: TaskContext) -> None:
    raise AssertionError("never runs: the governor refuses to start")


@hookimpl
def rain_task_types() -> list[TaskType]:
    return [not_sha256]
