"""Runs assigned tasks as children of the governor's nursery, as `GovernorState` decides.

The state machine (state.py) keeps the books: which tasks exist, who holds CPUs, who waits for
them, what is stored, which sessions are gone. This module only performs its actions and
turns what happens to tasks into its events.

Every task has its own cancel scope, so dropping a session cancels its tasks without touching
the rest; exceptions never escape into the nursery, because one failing task must not stop the
governor. Two kinds of task skip the trio task and scope: an inline one (run within the event
that lets it run), and one whose type has `start` (py/call) and whose inputs are here: it waits
for its CPUs as a plain record, is started synchronously when granted them, and ends when the
plugin calls its `done`; cancelling it calls the plugin's `cancel` and ends it at once.
A task's whole run sits inside one try/finally that sends `TaskEnded`, and the state machine
gives back whatever the task held when that event arrives, so no cancellation point
can lose a CPU. Waiting for CPUs follows trio's own locks: a task already cancelled takes
nothing, and one granted its CPUs at once still yields (shielded) to the rest of the governor.
"""

from __future__ import annotations

import functools
import logging
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import attrs
import trio

from rain.common.attributes import ObjectInfo, ObjectSpec, TaskSpec
from rain.common.content_types import is_subtype
from rain.common.data_instance import DataInstance
from rain.common.ids import ID
from rain.common.rows import AssignedTask, FailedTask, FinishedTask, ReportedOutput
from rain.core.governor import state as s
from rain.core.governor.context import GovernorTaskContext
from rain.core.governor.reports import Reporter, small_output_data
from rain.core.governor.store import ObjectStore, StoredObject
from rain.core.governor.transfers import TransferError, Transfers, input_id
from rain.core.protocol.auth import INSECURE, Credentials
from rain.plugins.api import TaskCrashed, TaskError, TaskType

logger = logging.getLogger(__name__)


@attrs.define(eq=False)
class RunningTask:
    """The runner's side of one task (the state machine hands it back in actions)."""

    spec: TaskSpec
    assigned: AssignedTask
    task_type: TaskType | None
    local_inputs: list[StoredObject] | None = None  # an inline task's inputs, all in memory
    # Made when the task gets a trio task of its own (inline and started tasks seldom do).
    scope: trio.CancelScope | None = None
    granted: trio.Event | None = None
    epoch: int = 0  # the transfers' epoch when it was assigned (see Transfers.peer_lost)
    # A task type with `start` whose inputs are here waits for its CPUs without a trio task
    # (`deferred`), then is started (`cancel` set until its `done` arrives).
    deferred: bool = False
    ctx: GovernorTaskContext | None = None
    cancel: Callable[[], None] | None = None


def _starting() -> None:
    """`RunningTask.cancel` while its type's `start` runs (nothing to cancel yet)."""


def _describe_failure(exc: Exception, ctx: GovernorTaskContext) -> str:
    """The task's error text; an unexpected exception also leaves its traceback in the debug text."""
    if isinstance(exc, TaskError):
        return str(exc)
    ctx.debug("%s", "".join(traceback.format_exception(exc)).rstrip())
    return f"{type(exc).__name__}: {exc}"


async def _call(task_type: TaskType, ctx: GovernorTaskContext) -> Any:
    """Runs an async `run`; an inline one directly, or in a worker thread when an input is a
    file (joining big files must not stall the governor)."""
    if not task_type.inline:
        return await cast(Awaitable[Any], task_type.run(ctx))  # not inline: async by validation
    if any(inp.path is not None for inp in ctx.inputs):
        return await trio.to_thread.run_sync(task_type.run, ctx)
    return task_type.run(ctx)


def _retry_hint(exc: Exception) -> dict[str, Any] | None:
    """What tells the server that a failure is not the task's own: an input whose holder could
    not be reached (`input_unavailable`: that governor), or a crashed executor (`crashed`)."""
    if isinstance(exc, TransferError) and exc.source is not None:
        return {"input_unavailable": exc.source}
    if isinstance(exc, TaskCrashed):
        return {"crashed": True}
    return None


class TaskRunner:
    """Runs every assigned task as a child of the governor's nursery.

    The server may send short tasks ahead of free CPUs (so the next one starts the moment a
    CPU frees, without a round trip). Such a task fetches its inputs at once, overlapping the
    transfer with the work before it, then waits for its CPUs: they are never overbooked.
    """

    def __init__(self, nursery: trio.Nursery, store: ObjectStore, task_types: dict[str, TaskType],
                 reporter: Reporter, governor_id: str, cpus: int, credentials: Credentials = INSECURE) -> None:
        self.state = s.GovernorState(cpus)
        self._nursery = nursery
        self._store = store
        self._transfers = Transfers(store, credentials, self._input_stored)
        self._task_types = task_types
        self._reporter = reporter
        self._governor_id = governor_id
        self._events: deque[s.Event] = deque()
        self._handling = False
        self._all_ended: trio.Event | None = None  # set when the last task ends (see `reset`)
        self._perform: dict[type, Callable[[Any], None]] = {
            s.StartTask: self._start_task,
            s.RunInline: self._run_inline,
            s.GrantCpus: self._grant_cpus,
            s.CancelTask: self._cancel_task,
            s.DeleteObjects: self._delete_objects,
            FinishedTask: reporter.finished,
            FailedTask: reporter.failed,
        }

    # --- server commands ------------------------------------------------------------------

    def start(self, item: list[Any]) -> None:
        """Takes one `AssignTasks` item (rain.common.rows.AssignedTask)."""
        assigned = AssignedTask(*item)
        spec = TaskSpec.from_row(assigned.session_id, assigned.task)
        task_type = self._task_types.get(spec.task_type)
        task = RunningTask(spec, assigned, task_type, epoch=self._transfers.epoch)
        if task_type is not None and task_type.inline:
            task.local_inputs = self._transfers.here(assigned.session_id, assigned.inputs, in_memory=True)
        inline = task.local_inputs is not None
        inputs_here = inline or self._transfers.all_here(assigned.session_id, assigned.inputs)
        self.handle(s.TaskAssigned(spec.id, spec.cpus, tuple(spec.outputs), task, inline, inputs_here))

    def delete_objects(self, ids: list[ID]) -> None:
        self.handle(s.ObjectsDeleted(tuple(ids)))

    def peer_lost(self, data_address: str) -> None:
        logger.info("governor %s was lost; no more fetching from it", data_address)
        self._transfers.peer_lost(data_address)

    def drop_session(self, session_id: int) -> None:
        logger.info("dropping session %d", session_id)
        self.handle(s.SessionDropped(session_id))

    async def reset(self) -> None:
        """Drops every session and waits until every task has ended: the server restarted
        without its journal and numbers sessions from 1 again, so nothing here means anything
        to it, not even the ids of the dropped sessions (which are then forgotten)."""
        state = self.state
        for sid in {t.session_id for t in state.tasks} | {o.session_id for o in state.objects}:
            self.drop_session(sid)
        if state.tasks:
            self._all_ended = trio.Event()
            await self._all_ended.wait()
        state.dropped.clear()
        self._reporter.discard()

    def inventory(self) -> tuple[list[Any], list[Any]]:
        """What this governor holds for a server it registers at again: stored objects as
        [session, id, info], and its tasks, running or with results not yet sent, as [session, id]."""
        objects = []
        for oid in self.state.objects:
            stored = self._store.get(oid)
            if stored is not None:
                objects.append([oid.session_id, oid.id, stored.info.to_wire()])
        tasks = [[t.session_id, t.id] for t, record in self.state.tasks.items() if not record.cancelled]
        return objects, tasks + self._reporter.pending_task_ids()

    # --- the state machine ----------------------------------------------------------------

    def handle(self, event: s.Event) -> None:
        """Feeds one event to the state machine and performs its actions. An action that causes
        another event (an inline run ends within it) queues it: events are handled one at a
        time, in order."""
        if self._handling:
            self._events.append(event)
            return
        self._handling = True
        try:
            while True:
                for action in self.state.handle(event):
                    self._perform[type(action)](action)
                if not self._events:
                    break
                event = self._events.popleft()
        finally:
            self._handling = False
        if self._all_ended is not None and not self.state.tasks:
            self._all_ended.set()
            self._all_ended = None

    def _input_stored(self, obj: StoredObject) -> None:
        self.handle(s.ObjectStored(obj.id))

    def _start_task(self, action: s.StartTask) -> None:
        task: RunningTask = action.handle
        if action.queued and task.task_type is not None and task.task_type.start is not None:
            task.deferred = True  # `_grant_cpus` starts it
            return
        self._spawn(task)

    def _spawn(self, task: RunningTask, granted: bool = False) -> None:
        """Gives the task a trio task of its own (`granted`: its CPUs are taken already)."""
        task.scope = trio.CancelScope()
        task.granted = trio.Event()
        if granted:
            task.granted.set()
        self._nursery.start_soon(self._run, task, task.scope, task.granted, name=f"task {task.spec.id}")

    def _grant_cpus(self, action: s.GrantCpus) -> None:
        task: RunningTask = action.handle
        if task.deferred:
            self._start_deferred(task)
            return
        assert task.granted is not None  # only tasks started on their own wait for CPUs
        task.granted.set()

    def _cancel_task(self, action: s.CancelTask) -> None:
        task: RunningTask = action.handle
        if task.scope is not None:  # an inline run is over before anything can cancel it
            task.scope.cancel()
        elif task.deferred:  # waiting for CPUs, or started: it ends now
            task.deferred = False
            cancel, task.cancel = task.cancel, None
            if cancel is not None:
                cancel()
            self._ended(task, task.ctx or self._context(task), None, None, None)

    def _delete_objects(self, action: s.DeleteObjects) -> None:
        for oid in action.ids:
            self._store.delete(oid)

    # --- running tasks --------------------------------------------------------------------

    def _run_inline(self, action: s.RunInline) -> None:
        """Runs an inline task type right here: its inputs are in memory and its CPUs taken."""
        task: RunningTask = action.handle
        assert task.task_type is not None and task.local_inputs is not None
        spec = task.spec
        ctx = self._context(task)
        outputs = error = None
        for inp, obj in zip(spec.inputs, task.local_inputs, strict=True):
            ctx.add_input(obj, inp.label)
        ctx.info.start_time = time.time()
        started = time.monotonic()
        try:
            outputs = self._store_outputs(ctx, task.task_type.run(ctx), task.assigned.report_data)
        except Exception as exc:
            error = _describe_failure(exc, ctx)
        finally:
            self._ended(task, ctx, outputs, error, started)

    def _start_deferred(self, task: RunningTask) -> None:
        """Starts a task through its type's `start`, now that it has its CPUs; a trio task of its
        own when its inputs are no longer all here or the type cannot start it now."""
        assert task.task_type is not None and task.task_type.start is not None
        ctx = task.ctx = self._context(task)
        try:
            stored = self._transfers.here(task.assigned.session_id, task.assigned.inputs)
        except Exception as exc:  # sent data that cannot be stored (a bad archive)
            task.deferred = False
            self._ended(task, ctx, None, _describe_failure(exc, ctx), None, _retry_hint(exc))
            return
        if stored is None:  # the server deleted an input meanwhile: let the fetch say so
            self._run_awaited(task, ctx)
            return
        for inp, obj in zip(task.spec.inputs, stored, strict=True):
            ctx.add_input(obj, inp.label)
        ctx.info.start_time = time.time()
        started = time.monotonic()
        task.cancel = _starting  # a `done` called within `start` still counts
        try:
            cancel = task.task_type.start(ctx, functools.partial(self._started_done, task, ctx, started))
        except Exception as exc:
            if task.cancel is _starting:
                task.cancel = None
                task.deferred = False
                self._ended(task, ctx, None, _describe_failure(exc, ctx), started, _retry_hint(exc))
            return
        if task.cancel is not _starting:  # it ended already
            return
        if cancel is None:
            task.cancel = None
            self._run_awaited(task, ctx)
            return
        task.cancel = cancel

    def _run_awaited(self, task: RunningTask, ctx: GovernorTaskContext) -> None:
        """A deferred task that cannot be started here after all runs as any other, in a trio
        task of its own (its CPUs are taken already); it makes its own context."""
        task.deferred = False
        task.ctx = None
        ctx.cleanup()
        self._spawn(task, granted=True)

    def _started_done(self, task: RunningTask, ctx: GovernorTaskContext, started: float,
                      result: Sequence[DataInstance] | None, exc: Exception | None) -> None:
        """The end of a run begun by `start` (ignored once the task was cancelled)."""
        if task.cancel is None:
            return
        task.cancel = None
        task.deferred = False
        outputs = error = hint = None
        try:
            if exc is not None:
                error, hint = _describe_failure(exc, ctx), _retry_hint(exc)
            else:
                outputs = self._store_outputs(ctx, result, task.assigned.report_data)
        except Exception as store_exc:
            error, hint = _describe_failure(store_exc, ctx), _retry_hint(store_exc)
        finally:
            self._ended(task, ctx, outputs, error, started, hint)

    async def _run(self, task: RunningTask, scope: trio.CancelScope, granted: trio.Event) -> None:
        spec = task.spec
        session_id = task.assigned.session_id
        ctx = self._context(task)
        outputs: list[ReportedOutput] | None = None
        error: str | None = None
        hint = None
        started = None
        try:
            with scope:
                if task.task_type is None:
                    raise TaskError(f"task type {spec.task_type!r} is not available on governor {self._governor_id}")
                for inp, record in zip(spec.inputs, task.assigned.inputs, strict=True):
                    stored = await self._transfers.ensure(session_id, record, task.epoch)
                    ctx.add_input(stored, inp.label)
                await self._take_cpus(task, granted)
                ctx.info.start_time = time.time()
                started = time.monotonic()
                result = await _call(task.task_type, ctx)
                outputs = self._store_outputs(ctx, result, task.assigned.report_data)
        except Exception as exc:
            error = _describe_failure(exc, ctx)
            hint = _retry_hint(exc)
        finally:
            self._ended(task, ctx, outputs, error, started, hint)

    async def _take_cpus(self, task: RunningTask, granted: trio.Event) -> None:
        """Waits until the state machine grants the task its CPUs (see the module docstring)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        self.handle(s.InputsReady(task.spec.id))
        if granted.is_set():
            await trio.lowlevel.cancel_shielded_checkpoint()
        else:
            await granted.wait()

    def _ended(self, task: RunningTask, ctx: GovernorTaskContext, outputs: list[ReportedOutput] | None,
               error: str | None, started: float | None, hint: dict[str, Any] | None = None) -> None:
        try:
            ctx.info.duration = time.monotonic() - started if started is not None else 0.0
            if ctx.debug_lines:
                debug = ctx.debug_text
                ctx.info.debug = f"{ctx.info.debug}\n{debug}" if ctx.info.debug else debug
            if error is not None or outputs is None:
                ctx.info.error = error or s.CANCELLED
                outputs = None
            info = ctx.info.to_wire()  # for the server, with the program output tails kept for monitoring
            if ctx.output_tails:
                info["output_tails"] = ctx.output_tails
            if outputs is None:
                if hint is not None:
                    info.update(hint)
                if ctx.inputs:  # the server makes us their holder, so they are deleted once not needed
                    info["inputs_here"] = [input_id(item) for item in task.assigned.inputs[:len(ctx.inputs)]]
            self.handle(s.TaskEnded(task.spec.id, info, outputs))
        finally:
            ctx.cleanup()

    def _context(self, task: RunningTask) -> GovernorTaskContext:
        session_id = task.assigned.session_id
        output_specs = [ObjectSpec.from_row(session_id, row) for row in task.assigned.outputs]
        ctx = GovernorTaskContext(task.spec, output_specs, self._store.tasks_dir)
        ctx.info.governor = self._governor_id
        ctx.task_row = task.assigned.task
        return ctx

    def _store_outputs(self, ctx: GovernorTaskContext, result: Any,
                       report_data: list[int] | None = None) -> list[ReportedOutput]:
        specs = ctx.output_specs
        instances = list(result) if result is not None else ctx.outputs
        if len(instances) != len(specs):
            raise TaskError(f"task produced {len(instances)} outputs, expected {len(specs)}")
        reports = []
        for spec, inst in zip(specs, instances, strict=True):
            if type(inst) is not DataInstance and not isinstance(inst, DataInstance):
                raise TaskError(f"output {spec.label!r} was not set")
            if inst.data_type != spec.data_type:  # a str enum: equal to its value
                raise TaskError(f"output {spec.label!r} must be a {spec.data_type}, got a {inst.data_type.value}")
            info = ObjectInfo(content_type=inst.content_type or spec.content_type,
                              user=dict(inst.info.user) if inst.info else {})
            if spec.content_type and not is_subtype(info.content_type, spec.content_type):  # none declared: any
                raise TaskError(f"output {spec.label!r} has content type {info.content_type!r}, "
                                f"which is not a subtype of {spec.content_type!r}")
            stored = self._store.put_instance(spec, info, inst)
            data = small_output_data(stored) if report_data and spec.id.id in report_data else None
            reports.append(ReportedOutput(spec.id.id, stored.info.to_wire(), data))
        return reports
