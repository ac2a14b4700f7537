"""The `py/call` task type: runs a remote Python function in a pooled executor.

The governor side only moves data: it hands the executor its inputs (bytes inline for blobs
held in memory, paths into the store otherwise) and, when the executor has not cached it yet,
the pickled function. It turns the executor's answer into output instances; files the function
produced are moved from the executor's staging dir into the store. The task takes no scratch
dir of its own: a trivial call costs the governor one frame out, one frame back.
Cancellation (trio) kills the busy executor, so nothing keeps running after its task is gone.
"""

from __future__ import annotations

import os
from typing import Any

import trio

from rain.common.attributes import ObjectInfo
from rain.common.data_instance import DataInstance
from rain.common.states import DataType
from rain.core.protocol.codec import encode
from rain.core.protocol.framing import ProtocolError
from rain.plugins.api import TaskContext, TaskCrashed, TaskError, task_type
from rain.plugins.python.messages import ExecutorCall, ExecutorResult
from rain.plugins.python.pool import ExecutorStartError, get_pool

TASK_TYPE = "py/call"
FUNCTION_LABEL = "fn"
ARGS_LABEL = "args"


def _input_record(instance: DataInstance) -> dict[str, Any]:
    return {"data": instance.data, "path": instance.path, "data_type": instance.data_type.value,
            "spec": instance.spec.to_wire() if instance.spec is not None else None,
            "info": instance.info.to_wire()}


def _function_input(ctx: TaskContext) -> DataInstance:
    labels = [inp.label for inp in ctx.spec.inputs]
    if FUNCTION_LABEL not in labels:
        raise TaskError(f"a {TASK_TYPE} task needs its function as the input labelled {FUNCTION_LABEL!r}")
    return ctx.inputs[labels.index(FUNCTION_LABEL)]


def _output(ctx: TaskContext, record: dict[str, Any], label: str | None, stage_dir: str) -> DataInstance:
    user = record.get("user") or {}
    if "input" in record:
        instance: DataInstance = ctx.inputs[record["input"]]
        instance.info.user = user
        if record.get("content_type"):
            instance.info.content_type = record["content_type"]
        return instance
    info = ObjectInfo(user=user)
    content_type = record.get("content_type")
    if "path" in record:
        path = os.path.realpath(record["path"])
        if os.path.dirname(path) != os.path.realpath(stage_dir):
            raise TaskError(f"output {label!r}: {record['path']!r} is not a file staged by the task")
        return DataInstance(DataType.from_value(record["data_type"]), path=path, content_type=content_type, info=info)
    return DataInstance("blob", data=record["data"], content_type=content_type, info=info)


@task_type(TASK_TYPE)
async def call_python(ctx: TaskContext) -> list[DataInstance]:
    """Runs a Python function created with `rain.client.remote` in one of the governor's executors."""
    fn_input = _function_input(ctx)
    fn_key = list(fn_input.object_id or ())
    inputs = [None if inp.label == FUNCTION_LABEL else _input_record(ctx.inputs[i])
              for i, inp in enumerate(ctx.spec.inputs)]
    outputs = [[o.label, o.content_type, o.data_type] for o in ctx.output_specs]
    pool = get_pool()
    if pool.tasks_dir is None:
        pool.tasks_dir = os.path.dirname(ctx.workdir)  # the only scratch dir a Python task takes
    await trio.lowlevel.checkpoint_if_cancelled()  # a task cancelled already takes no executor
    executor = pool.take_idle()
    if executor is None:
        try:
            executor = await pool.acquire()
        except ExecutorStartError as exc:
            raise TaskError(str(exc)) from None
    stage_dir = executor.stage_dir(pool.tasks_dir)
    call = ExecutorCall(ctx.spec.to_wire(), pool.tasks_dir, fn_key,
                        fn_input.get_bytes() if executor.needs_function(tuple(fn_key)) else None,
                        inputs, outputs)
    done = False
    try:
        reply = await executor.call(encode(call))
        done = isinstance(reply, ExecutorResult)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, ProtocolError):
        reply = None
    finally:
        if done:
            pool.release(executor)
        else:  # cancelled, crashed, or spoke nonsense: never reuse it
            pool.discard(executor)
    if not isinstance(reply, ExecutorResult):
        with trio.move_on_after(0.5):
            await executor.process.wait()
        raise TaskCrashed(f"the Python executor (pid {executor.pid}) {executor.exit_description()} "
                          "while running the task")
    for line in reply.debug:
        ctx.debug("%s", line)
    if isinstance(reply.user, dict):
        ctx.info.user = reply.user
    if reply.error is not None:
        raise TaskError(reply.error)
    assert reply.outputs is not None
    return [_output(ctx, record, spec.label, stage_dir)
            for record, spec in zip(reply.outputs, ctx.output_specs, strict=True)]
