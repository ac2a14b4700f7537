"""Runs assigned tasks as children of the governor's nursery.

Every task has its own cancel scope, so the server can cancel one session's tasks without
touching the rest; exceptions never escape into the nursery, because one failing task must not
stop the governor. `Cancelled` is a BaseException, so it passes the `except Exception` boundary
and the task's `finally` still cleans up.
"""

from __future__ import annotations

import logging
import time
from collections import deque
import traceback
from typing import Any

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
from rain.plugins.api import TaskError, TaskType

logger = logging.getLogger(__name__)


@attrs.define(eq=False)
class RunningTask:
    spec: TaskSpec
    item: list[Any]
    cpus: int
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    started: bool = False
    cancelled: bool = False


class TaskRunner:
    """Starts tasks in arrival order while their CPUs are free.

    The server may send short tasks ahead of free CPUs (so the next one starts the moment a
    CPU frees, without a round trip); they wait in `_queue`, so CPUs are never overbooked here.
    """

    def __init__(self, nursery: trio.Nursery, store: ObjectStore, task_types: dict[str, TaskType],
                 reporter: Reporter, governor_id: str, cpus: int) -> None:
        self._nursery = nursery
        self.free_cpus = cpus
        self._queue: deque[RunningTask] = deque()
        self._store = store
        self._transfers = Transfers(store)
        self._task_types = task_types
        self._reporter = reporter
        self._governor_id = governor_id
        self.running: dict[ID, RunningTask] = {}

    def start(self, item: list[Any]) -> None:
        """`item` = [session_id, task row, input records, output object rows] (see AssignTasks)."""
        spec = TaskSpec.from_row(item[0], item[1])
        running = RunningTask(spec, item, spec.cpus)
        self.running[spec.id] = running
        self._queue.append(running)
        self._start_queued()

    def _start_queued(self) -> None:
        queue = self._queue
        while queue:
            head = queue[0]
            if not head.cancelled and head.cpus > self.free_cpus:
                break
            queue.popleft()
            if head.cancelled:  # cancelled while queued: already reported
                continue
            head.started = True
            self.free_cpus -= head.cpus
            self._nursery.start_soon(self._run, head, name=f"task {head.spec.id}")

    def _cancel(self, running: RunningTask) -> None:
        running.cancelled = True
        running.scope.cancel()
        if not running.started:  # still queued: it ends here, without ever running
            del self.running[running.spec.id]
            self._reporter.failed([*running.spec.id, {"error": "cancelled"}])
            self._start_queued()

    def cancel(self, ids: list[Any], reason: str) -> None:
        for value in ids:
            running = self.running.get(ID.from_wire(value))
            if running is not None:
                self._cancel(running)

    def drop_session(self, session_id: int) -> None:
        for task_id, running in list(self.running.items()):
            if task_id.session_id == session_id:
                self._cancel(running)
        self._store.drop_session(session_id)

    async def _run(self, running: RunningTask) -> None:
        spec = running.spec
        session_id, _row, input_items, output_rows = running.item
        output_specs = [ObjectSpec.from_row(session_id, row) for row in output_rows]
        ctx = GovernorTaskContext(spec, output_specs, self._store.tasks_dir)
        ctx.info.governor = self._governor_id
        ctx.info.start_time = time.time()
        started = time.monotonic()
        outputs: list[list[Any]] | None = None
        error: str | None = None
        try:
            with running.scope:
                task_type = self._task_types.get(spec.task_type)
                if task_type is None:
                    raise TaskError(f"task type {spec.task_type!r} is not available on governor {self._governor_id}")
                for inp, item in zip(spec.inputs, input_items, strict=True):
                    stored = await self._transfers.ensure(session_id, item)
                    ctx.inputs.append(stored.instance(), label=inp.label)
                result = await task_type.run(ctx)
                outputs = self._store_outputs(ctx, output_specs, result)
        except TaskError as exc:
            error = str(exc)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            ctx.debug("%s", traceback.format_exc().rstrip())
        finally:
            del self.running[spec.id]
            self.free_cpus += running.cpus
            self._start_queued()
            ctx.cleanup()
        ctx.info.duration = time.monotonic() - started
        ctx.info.debug = "\n".join(filter(None, [ctx.info.debug, ctx.debug_text]))
        if outputs is not None and error is None:
            self._reporter.finished([session_id, spec.id.id, ctx.info.to_wire(), outputs])
        else:
            for out in output_specs:
                self._store.delete(out.id)
            ctx.info.error = error or "cancelled"
            self._reporter.failed([session_id, spec.id.id, ctx.info.to_wire()])

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
