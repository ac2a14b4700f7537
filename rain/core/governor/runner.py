"""Runs assigned tasks as children of the governor's nursery.

Every task has its own cancel scope, so the server can cancel one session's tasks without
touching the rest; exceptions never escape into the nursery, because one failing task must not
stop the governor. `Cancelled` is a BaseException, so it passes the `except Exception` boundary
and the task's `finally` still cleans up.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import deque
from collections.abc import Awaitable
from typing import Any, cast

import attrs
import trio

from rain.common.attributes import ObjectInfo, ObjectSpec, TaskSpec
from rain.common.content_types import is_subtype
from rain.common.data_instance import DataInstance
from rain.common.ids import ID
from rain.core.governor.context import GovernorTaskContext
from rain.core.governor.reports import Reporter
from rain.core.governor.store import ObjectStore
from rain.core.governor.transfers import Transfers
from rain.core.protocol.auth import INSECURE, Credentials
from rain.plugins.api import TaskError, TaskType

logger = logging.getLogger(__name__)


@attrs.define(eq=False)
class RunningTask:
    spec: TaskSpec
    item: list[Any]
    cpus: int
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)


def _describe_failure(exc: Exception, ctx: GovernorTaskContext) -> str:
    """The task's error text; an unexpected exception also leaves its traceback in the debug text."""
    if isinstance(exc, TaskError):
        return str(exc)
    ctx.debug("%s", traceback.format_exc().rstrip())
    return f"{type(exc).__name__}: {exc}"


async def _call(task_type: TaskType, ctx: GovernorTaskContext) -> Any:
    """Runs an async `run`; an inline one directly, or in a worker thread when an input is a
    file (joining big files must not stall the governor)."""
    if not task_type.inline:
        return await cast(Awaitable[Any], task_type.run(ctx))  # not inline: async by validation
    if any(inp.path is not None for inp in ctx.inputs):
        return await trio.to_thread.run_sync(task_type.run, ctx)
    return task_type.run(ctx)


def _info_wire(ctx: GovernorTaskContext) -> dict[str, Any]:
    """The task's info for the server, with the program output tails kept for monitoring."""
    info = ctx.info.to_wire()
    if ctx.output_tails:
        info["output_tails"] = ctx.output_tails
    return info


class CpuGate:
    """Admits tasks to the governor's CPUs in arrival order; never more than `free` in use."""

    def __init__(self, cpus: int) -> None:
        self.free = cpus
        self._waiting: deque[tuple[int, trio.Event]] = deque()

    async def acquire(self, cpus: int) -> None:
        if not self._waiting and cpus <= self.free:
            # Cancelled before taking, or not at all: a plain checkpoint after taking would
            # raise Cancelled with the CPUs gone (a task cancelled right after assignment).
            await trio.lowlevel.checkpoint_if_cancelled()
            self.free -= cpus
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        entry = (cpus, trio.Event())
        self._waiting.append(entry)
        try:
            await entry[1].wait()
        except BaseException:
            if entry[1].is_set():  # granted just as we were cancelled: give it back
                self.release(cpus)
            else:
                self._waiting.remove(entry)
                self._wake()
            raise

    def try_acquire(self, cpus: int) -> bool:
        """Takes the CPUs at once if they are free and nobody is queued before us."""
        if self._waiting or cpus > self.free:
            return False
        self.free -= cpus
        return True

    def release(self, cpus: int) -> None:
        self.free += cpus
        self._wake()

    def _wake(self) -> None:
        waiting = self._waiting
        while waiting and waiting[0][0] <= self.free:
            cpus, event = waiting.popleft()
            self.free -= cpus
            event.set()


class TaskRunner:
    """Runs every assigned task as a child of the governor's nursery.

    The server may send short tasks ahead of free CPUs (so the next one starts the moment a
    CPU frees, without a round trip). Such a task fetches its inputs at once, overlapping the
    transfer with the work before it, then waits at the `CpuGate`: CPUs are never overbooked.
    """

    def __init__(self, nursery: trio.Nursery, store: ObjectStore, task_types: dict[str, TaskType],
                 reporter: Reporter, governor_id: str, cpus: int, credentials: Credentials = INSECURE) -> None:
        self._nursery = nursery
        self._cpus = CpuGate(cpus)
        self._store = store
        self._transfers = Transfers(store, credentials)
        self._task_types = task_types
        self._reporter = reporter
        self._governor_id = governor_id
        self.running: dict[ID, RunningTask] = {}

    def start(self, item: list[Any]) -> None:
        """`item` = [session_id, task row, input records, output object rows] (see AssignTasks)."""
        spec = TaskSpec.from_row(item[0], item[1])
        task_type = self._task_types.get(spec.task_type)
        if task_type is not None and task_type.inline and self._run_inline(spec, item, task_type):
            return
        running = RunningTask(spec, item, spec.cpus)
        self.running[spec.id] = running
        self._nursery.start_soon(self._run, running, name=f"task {spec.id}")

    def drop_session(self, session_id: int) -> None:
        for task_id, running in self.running.items():
            if task_id.session_id == session_id:
                running.scope.cancel()
        self._store.drop_session(session_id)

    def _run_inline(self, spec: TaskSpec, item: list[Any], task_type: TaskType) -> bool:
        """Runs an inline task type right here when its inputs are in memory and a CPU is free
        without jumping the queue; False (nothing done) otherwise."""
        session_id, _row, input_items, output_rows = item
        stored = self._transfers.in_memory(session_id, input_items)
        if stored is None or not self._cpus.try_acquire(spec.cpus):
            return False
        ctx = self._context(spec, session_id, output_rows)
        outputs = error = None
        for inp, obj in zip(spec.inputs, stored, strict=True):
            ctx.inputs.append(obj.instance(), label=inp.label)
        ctx.info.start_time = time.time()
        started = time.monotonic()
        try:
            outputs = self._store_outputs(ctx, ctx.output_specs, task_type.run(ctx))
        except Exception as exc:
            error = _describe_failure(exc, ctx)
        finally:
            self._cpus.release(spec.cpus)
            ctx.cleanup()
        self._report(session_id, spec, ctx, outputs, error, started)
        return True

    async def _run(self, running: RunningTask) -> None:
        spec = running.spec
        session_id, _row, input_items, output_rows = running.item
        ctx = self._context(spec, session_id, output_rows)
        outputs: list[list[Any]] | None = None
        error: str | None = None
        started = None
        try:
            with running.scope:
                task_type = self._task_types.get(spec.task_type)
                if task_type is None:
                    raise TaskError(f"task type {spec.task_type!r} is not available on governor {self._governor_id}")
                for inp, item in zip(spec.inputs, input_items, strict=True):
                    stored = await self._transfers.ensure(session_id, item)
                    ctx.inputs.append(stored.instance(), label=inp.label)
                await self._cpus.acquire(running.cpus)
                try:
                    ctx.info.start_time = time.time()
                    started = time.monotonic()
                    result = await _call(task_type, ctx)
                    outputs = self._store_outputs(ctx, ctx.output_specs, result)
                finally:
                    self._cpus.release(running.cpus)
        except Exception as exc:
            error = _describe_failure(exc, ctx)
        finally:
            del self.running[spec.id]
            ctx.cleanup()
        self._report(session_id, spec, ctx, outputs, error, started)

    def _context(self, spec: TaskSpec, session_id: int, output_rows: list[Any]) -> GovernorTaskContext:
        output_specs = [ObjectSpec.from_row(session_id, row) for row in output_rows]
        ctx = GovernorTaskContext(spec, output_specs, self._store.tasks_dir)
        ctx.info.governor = self._governor_id
        return ctx

    def _report(self, session_id: int, spec: TaskSpec, ctx: GovernorTaskContext,
                outputs: list[list[Any]] | None, error: str | None, started: float | None) -> None:
        ctx.info.duration = time.monotonic() - started if started is not None else 0.0
        ctx.info.debug = "\n".join(filter(None, [ctx.info.debug, ctx.debug_text]))
        if outputs is not None and error is None:
            self._reporter.finished([session_id, spec.id.id, _info_wire(ctx), outputs])
        else:
            for out in ctx.output_specs:
                self._store.delete(out.id)
            ctx.info.error = error or "cancelled"
            self._reporter.failed([session_id, spec.id.id, _info_wire(ctx)])

    def _store_outputs(self, ctx: GovernorTaskContext, specs: list[ObjectSpec],
                       result: Any) -> list[list[Any]]:
        instances = list(result) if result is not None else ctx.outputs
        if len(instances) != len(specs):
            raise TaskError(f"task produced {len(instances)} outputs, expected {len(specs)}")
        reports = []
        for spec, inst in zip(specs, instances, strict=True):
            if not isinstance(inst, DataInstance):
                raise TaskError(f"output {spec.label!r} was not set")
            if inst.data_type.value != spec.data_type:
                raise TaskError(f"output {spec.label!r} must be a {spec.data_type}, got a {inst.data_type.value}")
            info = ObjectInfo(content_type=inst.content_type or spec.content_type,
                              user=dict(inst.info.user) if inst.info else {})
            if not is_subtype(info.content_type, spec.content_type):
                raise TaskError(f"output {spec.label!r} has content type {info.content_type!r}, "
                                f"which is not a subtype of {spec.content_type!r}")
            stored = self._store.put_instance(spec, info, inst)
            reports.append([spec.id.id, stored.info.to_wire()])
        return reports
