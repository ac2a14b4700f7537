"""An example task-type plugin: `hash/sha256` computes the SHA-256 digest of its input."""

from __future__ import annotations

import hashlib

from rain.plugins import TaskContext, hookimpl, task_type


@task_type("hash/sha256")
async def sha256(ctx: TaskContext):  # type: ignore[no-untyped-def]
    """Hex SHA-256 digest of the single input blob."""
    digest = hashlib.sha256(ctx.inputs[0].get_bytes()).hexdigest()
    return [ctx.blob(digest.encode(), content_type="text")]


@hookimpl
def rain_task_types():  # type: ignore[no-untyped-def]
    return [sha256]
