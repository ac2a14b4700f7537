"""The `py/call` task type: runs a remote Python function in a pooled executor.

The governor side only moves data: it hands the executor its inputs (bytes inline for blobs
held in memory, paths into the store otherwise) and, when the executor has not cached it yet,
the pickled function. It turns the executor's answer into output instances; files the function
produced are moved from the executor's staging dir into the store. The task takes no scratch
dir of its own: a trivial call costs the governor one frame out, one frame back.
Cancellation kills the busy executor, so nothing keeps running after its task is gone.

A call whose inputs are all here goes through `start_call` (see `TaskType.start`): the frame
is sent to an idle executor synchronously and the executor's reply reader (pool.py) finishes
the task, with no trio task per call. `call_python` (awaited) serves the rest: calls that had
to fetch inputs, or found no idle executor.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, cast

import cbor2
import trio

from rain.common.attributes import ObjectInfo
from rain.common.content_types import check_content_type
from rain.common.data_instance import DataInstance
from rain.common.states import DataType
from rain.core.protocol.framing import encode_frame
from rain.core.protocol.messages import Message
from rain.plugins.api import DoneCallback, TaskContext, TaskCrashed, TaskError, TaskType
from rain.plugins.python.messages import ExecutorCall, ExecutorResult
from rain.plugins.python.pool import Executor, ExecutorPool, ExecutorStartError, get_pool

TASK_TYPE = "py/call"
FUNCTION_LABEL = "fn"
ARGS_LABEL = "args"


def _input_record(instance: DataInstance) -> dict[str, Any]:
    return {"data": instance.data, "path": instance.path, "data_type": instance.data_type.value,
            "spec": instance.spec.to_wire() if instance.spec is not None else None,
            "info": instance.info.to_wire()}


def _function_input(ctx: TaskContext) -> DataInstance:
    for inp, instance in zip(ctx.spec.inputs, ctx.inputs, strict=True):
        if inp.label == FUNCTION_LABEL:
            return instance
    raise TaskError(f"a {TASK_TYPE} task needs its function as the input labelled {FUNCTION_LABEL!r}")


def _output(ctx: TaskContext, record: dict[str, Any], label: str | None, stage_dir: Callable[[], str]) -> DataInstance:
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
        if os.path.dirname(path) != os.path.realpath(stage_dir()):
            raise TaskError(f"output {label!r}: {record['path']!r} is not a file staged by the task")
        return DataInstance(DataType.from_value(record["data_type"]), path=path, content_type=content_type, info=info)
    data = record["data"]
    if type(data) is bytes:  # the usual result: checked here, not again in `__init__`
        return DataInstance.unchecked(DataType.BLOB, data, None, check_content_type(content_type), None, info, None)
    return DataInstance(DataType.BLOB, data=data, content_type=content_type, info=info)


def _call_parts() -> list[bytes]:
    """The CBOR of an `ExecutorCall` around its six field values, in wire order."""
    markers = [f"rain-executor-call-marker-{i}".encode() for i in range(6)]
    payload = cbor2.dumps(ExecutorCall(*cast(list[Any], markers)).to_wire())
    parts = []
    for marker in markers:
        head, payload = payload.split(cbor2.dumps(marker))
        parts.append(head)
    return [*parts, payload]


_CALL_PARTS = _call_parts()
_ONLY_FUNCTION = cbor2.dumps([None])  # the inputs of a call whose only input is its function


class _CallFrames:
    """Puts call frames together from encoded parts: the same bytes `encode` makes, for about
    half the CPU (cbor2 spends about half a microsecond on each list). The map's keys, and the
    values that consecutive calls mostly share (the tasks dir, the function's key, the outputs'
    specs), are encoded once; only the spec, the function's bytes and the other inputs are
    encoded per call."""

    def __init__(self) -> None:
        self._key: tuple[str, list[int]] | None = None
        self._middle = b""
        self._outputs: list[list[Any]] | None = None
        self._tail = b""

    def frame(self, spec: Any, tasks_dir: str, fn_key: list[int], fn: bytes | None,
              inputs: list[Any], outputs: list[list[Any]]) -> bytes:
        s0, s1, s2, s3, s4, s5, s6 = _CALL_PARTS
        if self._key != (tasks_dir, fn_key):
            self._key = (tasks_dir, fn_key)
            self._middle = b"".join((s1, cbor2.dumps(tasks_dir), s2, cbor2.dumps(fn_key), s3))
        if self._outputs != outputs:
            self._outputs = outputs
            self._tail = b"".join((s5, cbor2.dumps(outputs), s6))
        payload = b"".join((s0, cbor2.dumps(spec), self._middle, cbor2.dumps(fn), s4,
                            _ONLY_FUNCTION if inputs == [None] else cbor2.dumps(inputs), self._tail))
        return encode_frame(payload)


_FRAMES = _CallFrames()


def _prepare(ctx: TaskContext, fn_input: DataInstance, executor: Executor, tasks_dir: str) -> bytes:
    """The call's frame for this executor (with the function's bytes if it has not cached them).
    The spec goes as the row the server sent, when the context has it: rebuilding it from the
    `TaskSpec` costs more than the rest of the frame."""
    fn_key = list(fn_input.object_id or ())
    inputs = [None if instance is fn_input else _input_record(instance) for instance in ctx.inputs]
    outputs = [[o.label, o.content_type, o.data_type] for o in ctx.output_specs]
    row = getattr(ctx, "task_row", None)
    spec = {"session_id": ctx.spec.id.session_id, "row": row} if row is not None else ctx.spec.to_wire()
    fn = fn_input.get_bytes() if executor.needs_function(tuple(fn_key)) else None
    return _FRAMES.frame(spec, tasks_dir, fn_key, fn, inputs, outputs)


def _tasks_dir(ctx: TaskContext, pool: ExecutorPool) -> str:
    if pool.tasks_dir is None:
        pool.tasks_dir = os.path.dirname(ctx.workdir)  # the only scratch dir a Python task takes
    return pool.tasks_dir


def _finish(ctx: TaskContext, pool: ExecutorPool, executor: Executor, reply: Message | None) -> list[DataInstance]:
    """The outputs of an answered call. The executor goes back to the pool first (the caller
    stores the outputs before anything else can take it), or is killed when it did not answer."""
    if type(reply) is not ExecutorResult and not isinstance(reply, ExecutorResult):
        pool.discard(executor)
        raise TaskCrashed(f"the Python executor (pid {executor.pid}) {executor.exit_description()} "
                          "while running the task")
    pool.release(executor)
    for line in reply.debug:
        ctx.debug("%s", line)
    if reply.user and isinstance(reply.user, dict):  # (an empty one changes nothing)
        ctx.info.user = reply.user
    if reply.error is not None:
        raise TaskError(reply.error)
    assert reply.outputs is not None
    def stage_dir() -> str:  # only a file output needs it
        return executor.stage_dir(pool.tasks_dir or "")

    return [_output(ctx, record, spec.label, stage_dir)
            for record, spec in zip(reply.outputs, ctx.output_specs, strict=True)]


def start_call(ctx: TaskContext, done: DoneCallback) -> Callable[[], None] | None:
    """Sends the call to an idle executor without awaiting (see `TaskType.start`); the
    executor's reply reader completes the task. None when no executor is idle."""
    fn_input = _function_input(ctx)  # a task without its function fails before it takes an executor
    pool = get_pool()
    tasks_dir = pool.tasks_dir or _tasks_dir(ctx, pool)
    executor = pool.take_idle()
    if executor is None:
        return None
    try:
        frame = _prepare(ctx, fn_input, executor, tasks_dir)
    except BaseException:
        pool.release(executor)
        raise

    def on_reply(reply: Message | None) -> None:
        try:
            outputs = _finish(ctx, pool, executor, reply)
        except Exception as exc:
            done(None, exc)
        else:
            done(outputs, None)

    def cancel() -> None:
        executor.forget_call()
        pool.discard(executor)

    executor.send_call(frame, on_reply)
    return cancel


async def call_python(ctx: TaskContext) -> list[DataInstance]:
    """Runs a Python function created with `rain.client.remote` in one of the governor's executors."""
    fn_input = _function_input(ctx)
    pool = get_pool()
    tasks_dir = _tasks_dir(ctx, pool)
    await trio.lowlevel.checkpoint_if_cancelled()  # a task cancelled already takes no executor
    executor = pool.take_idle()
    if executor is None:
        try:
            executor = await pool.acquire()
        except ExecutorStartError as exc:
            raise TaskError(str(exc)) from None
    try:
        reply = await executor.call(_prepare(ctx, fn_input, executor, tasks_dir))
    except BaseException:  # cancelled: never reuse it
        pool.discard(executor)
        raise
    return _finish(ctx, pool, executor, reply)


PYTHON_CALL = TaskType(TASK_TYPE, call_python, doc=(call_python.__doc__ or "").strip(), start=start_call)
