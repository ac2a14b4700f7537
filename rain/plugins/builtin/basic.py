"""`buildin/concat` and `buildin/sleep`: the smallest task types, used by tests and benchmarks."""

from __future__ import annotations

import trio

from rain.common.data_instance import DataInstance
from rain.plugins.api import TaskContext, TaskError, task_type


@task_type("buildin/concat", inline=True, inputs=["*blob"])
def concat(ctx: TaskContext) -> list[DataInstance]:
    """Joins the input blobs in order; no inputs gives an empty blob."""
    for inp in ctx.inputs:
        if inp.data_type.value != "blob":
            raise TaskError("concat accepts only blobs")
    if len(ctx.inputs) == 1:
        return [ctx.inputs[0]]
    return [ctx.blob(b"".join(inp.get_bytes() for inp in ctx.inputs))]


@task_type("buildin/sleep")
async def sleep(ctx: TaskContext) -> list[DataInstance]:
    """Forwards its input after `config` seconds, holding its CPUs meanwhile."""
    if len(ctx.inputs) != 1:
        raise TaskError(f"sleep needs exactly one input, got {len(ctx.inputs)}")
    seconds = ctx.config
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise TaskError(f"invalid sleep time {seconds!r}")
    await trio.sleep(seconds)
    return [ctx.inputs[0]]
