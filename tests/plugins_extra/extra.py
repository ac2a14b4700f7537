"""A plugin loaded by name (`--plugin tests.plugins_extra.extra`), not through an entry point."""

from __future__ import annotations

import trio

from rain.common.data_instance import DataInstance
from rain.plugins import TaskContext, TaskType, hookimpl, task_type


@task_type("extra/reverse")
async def reverse(ctx: TaskContext) -> list[DataInstance]:
    """The input blob's bytes in reverse order."""
    return [ctx.blob(ctx.inputs[0].get_bytes()[::-1])]


@task_type("extra/wait")
async def wait(ctx: TaskContext) -> list[DataInstance]:
    """Outputs b"done" after `config` seconds."""
    await trio.sleep(ctx.config)
    return [ctx.blob(b"done")]


@task_type("extra/crash")
async def crash(ctx: TaskContext) -> None:
    """An unexpected failure: a plain exception, not a TaskError."""
    raise ValueError(f"unexpected value {ctx.config!r}")


@hookimpl
def rain_task_types() -> list[TaskType]:
    return [reverse, wait, crash]
