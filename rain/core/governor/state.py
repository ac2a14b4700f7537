"""The governor's bookkeeping as a state machine: events in, actions out, no I/O.

`GovernorState.handle(event)` updates the state and returns the actions its caller must carry
out. It never awaits and touches nothing outside itself, so every interleaving of server
commands, task endings and cancellations can be replayed in a unit test
(tests/unit/test_governor_state.py). `TaskRunner` (runner.py) feeds it events and performs
the actions: it starts trio tasks, lets a task take its CPUs, cancels scopes, deletes stored
objects and queues reports. (Dask's `distributed/worker_state_machine.py` has the same split.)

A task's life: `TaskAssigned` -> `StartTask` (the runner brings its inputs) -> `InputsReady`
-> queued until its CPUs are free -> `GrantCpus` -> `TaskEnded`. An inline task whose inputs
are in memory goes `TaskAssigned` -> `RunInline` -> `TaskEnded` when CPUs are free and nobody
is queued. A task holds CPUs from its grant to its `TaskEnded`, whatever ends it, so the
runner never has to give CPUs back itself; cancelling only asks the task to end.

Invariants, checked by `validate()` after every event in the tests:
- CPUs: free + the CPUs of running tasks == total, never negative; the head of the queue does
  not fit in the free CPUs (else it would have been granted).
- Every assigned task gets exactly one report (finished or failed); a cancelled one is
  reported failed with the error "cancelled", so the server's CPU accounting stays exact.
- No object of a dropped session is in the inventory: whatever a task or transfer stores for
  it after the drop is deleted at once. The outputs of a task that did not succeed are deleted.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from rain.common.ids import ID
from rain.common.rows import FailedTask, FinishedTask, ReportedOutput

CANCELLED = "cancelled"


class Phase(enum.Enum):
    FETCHING = "fetching"  # bringing its inputs (or not started yet)
    WAITING = "waiting"  # inputs here, queued for CPUs
    RUNNING = "running"  # holds its CPUs (cancelled or not, until it ends)
    ENDING = "ending"  # cancelled before it took CPUs; holds nothing, its run has yet to end


@attrs.define(eq=False)
class TaskRecord:
    id: ID
    cpus: int
    outputs: tuple[ID, ...]
    handle: Any  # the runner's object for this task, handed back in actions
    phase: Phase = Phase.FETCHING
    cancelled: bool = False


# --- events ----------------------------------------------------------------------------------
# Events and actions are mutable slotted records, not frozen ones: one task makes about six of
# them, and frozen attrs instances cost about three times as much to build. Nobody changes them.


@attrs.define
class TaskAssigned:
    """The server assigned a task. `inline`: the runner found it can run right away (an inline
    task type whose inputs are all in memory). `inputs_here`: every input is already stored
    here, so the task queues for CPUs at once, in the order the server assigned it, instead of
    whenever its trio task first runs (trio runs new tasks in no fixed order)."""

    task_id: ID
    cpus: int
    outputs: tuple[ID, ...]
    handle: Any = None
    inline: bool = False
    inputs_here: bool = False


@attrs.define
class InputsReady:
    task_id: ID


@attrs.define
class TaskEnded:
    """A task's run is over, however it ended. `outputs` is None unless it succeeded; `info`
    is its TaskInfo in wire form. Whatever outputs it stored are in the store by then, and
    join the inventory only if it succeeded."""

    task_id: ID
    info: dict[str, Any]
    outputs: list[ReportedOutput] | None = None


@attrs.define
class ObjectStored:
    """An input was added to the store (fetched from a peer, or sent with its data)."""

    object_id: ID


@attrs.define
class ObjectsDeleted:
    """The server no longer needs these objects here."""

    ids: tuple[ID, ...]


@attrs.define
class SessionDropped:
    """The server closed or failed the session: cancel its tasks, delete its objects."""

    session_id: int


Event = TaskAssigned | InputsReady | TaskEnded | ObjectStored | ObjectsDeleted | SessionDropped


# --- actions ---------------------------------------------------------------------------------


@attrs.define
class StartTask:
    """Start the task's trio task: bring its inputs, then send `InputsReady` (ignored when
    `queued`: the task is already waiting for CPUs, its inputs being here)."""

    task_id: ID
    handle: Any
    queued: bool = False


@attrs.define
class RunInline:
    """Run the task now, synchronously; its CPUs are taken."""

    task_id: ID
    handle: Any


@attrs.define
class GrantCpus:
    """The task waiting after `InputsReady` has its CPUs: let it run."""

    task_id: ID
    handle: Any


@attrs.define
class CancelTask:
    task_id: ID
    handle: Any


@attrs.define
class DeleteObjects:
    ids: tuple[ID, ...]


# A `FinishedTask` or `FailedTask` row is itself an action: report it to the server.
Action = StartTask | RunInline | GrantCpus | CancelTask | DeleteObjects | FinishedTask | FailedTask


class GovernorState:
    """Tasks, CPUs and the FIFO queue of tasks waiting for them, the stored objects' ids and the
    dropped sessions of one governor.

    `dropped` holds the ids of every session dropped since registration (one int each): a
    transfer or an uncancellable task may still store something for such a session, and an
    assignment may arrive for one once connections can be re-established.
    """

    def __init__(self, cpus: int) -> None:
        self.cpus = cpus
        self.free_cpus = cpus
        self.tasks: dict[ID, TaskRecord] = {}
        self.queue: deque[TaskRecord] = deque()
        self.objects: set[ID] = set()
        self.dropped: set[int] = set()
        self._handlers: dict[type, Callable[[Any], list[Action]]] = {
            TaskAssigned: self._task_assigned,
            InputsReady: self._inputs_ready,
            TaskEnded: self._task_ended,
            ObjectStored: self._object_stored,
            ObjectsDeleted: self._objects_deleted,
            SessionDropped: self._session_dropped,
        }

    def handle(self, event: Event) -> list[Action]:
        return self._handlers[type(event)](event)

    # --- tasks ----------------------------------------------------------------------------

    def _task_assigned(self, event: TaskAssigned) -> list[Action]:
        tid = event.task_id
        if tid in self.tasks:  # already here (a repeated assignment): it reports once
            return []
        if tid.session_id in self.dropped:
            return [FailedTask(tid.session_id, tid.id, {"error": CANCELLED})]
        if event.cpus > self.cpus:
            error = f"the task needs {event.cpus} cpus but the governor has {self.cpus}"
            return [FailedTask(tid.session_id, tid.id, {"error": error})]
        task = self.tasks[tid] = TaskRecord(tid, event.cpus, event.outputs, event.handle)
        if event.inline and not self.queue and task.cpus <= self.free_cpus:
            self._take_cpus(task)
            return [RunInline(tid, task.handle)]
        if not event.inputs_here:
            return [StartTask(tid, task.handle)]
        task.phase = Phase.WAITING
        self.queue.append(task)
        actions: list[Action] = [StartTask(tid, task.handle, queued=True)]
        return actions + self._grant()

    def _inputs_ready(self, event: InputsReady) -> list[Action]:
        task = self.tasks.get(event.task_id)
        if task is None or task.cancelled or task.phase is not Phase.FETCHING:
            return []
        task.phase = Phase.WAITING
        self.queue.append(task)
        return self._grant()

    def _task_ended(self, event: TaskEnded) -> list[Action]:
        tid = event.task_id
        task = self.tasks.pop(tid, None)
        if task is None:  # unknown here: nobody expects its outputs
            return self._delete([ID(tid.session_id, out.object_id) for out in event.outputs or ()])
        if task.phase is Phase.RUNNING:
            self.free_cpus += task.cpus
        elif task.phase is Phase.WAITING:
            self.queue.remove(task)
        actions: list[Action]
        if task.cancelled or tid.session_id in self.dropped:
            actions = self._delete(task.outputs)
            actions.append(FailedTask(tid.session_id, tid.id, {**event.info, "error": CANCELLED}))
        elif event.outputs is not None:
            self.objects.update(task.outputs)
            actions = [FinishedTask(tid.session_id, tid.id, event.info, event.outputs)]
        else:  # failed: outputs stored before the failure are dropped
            actions = self._delete(task.outputs)
            actions.append(FailedTask(tid.session_id, tid.id, event.info))
        if self.queue:
            actions += self._grant()
        return actions

    def _take_cpus(self, task: TaskRecord) -> None:
        self.free_cpus -= task.cpus
        task.phase = Phase.RUNNING

    def _grant(self) -> list[Action]:
        """Grants CPUs in arrival order; a task that does not fit blocks the ones behind it, so
        a big task is not starved by a stream of small ones."""
        actions: list[Action] = []
        queue = self.queue
        while queue and queue[0].cpus <= self.free_cpus:
            task = queue.popleft()
            self._take_cpus(task)
            actions.append(GrantCpus(task.id, task.handle))
        return actions

    # --- objects and sessions -------------------------------------------------------------

    def _object_stored(self, event: ObjectStored) -> list[Action]:
        if event.object_id.session_id in self.dropped:
            return [DeleteObjects((event.object_id,))]
        self.objects.add(event.object_id)
        return []

    def _objects_deleted(self, event: ObjectsDeleted) -> list[Action]:
        return self._delete(event.ids)

    def _delete(self, ids: Iterable[ID]) -> list[Action]:
        ids = tuple(ids)
        if not ids:
            return []
        self.objects.difference_update(ids)
        return [DeleteObjects(ids)]

    def _session_dropped(self, event: SessionDropped) -> list[Action]:
        sid = event.session_id
        self.dropped.add(sid)
        actions: list[Action] = []
        for task in self.tasks.values():
            if task.id.session_id == sid and not task.cancelled:
                task.cancelled = True
                actions.append(CancelTask(task.id, task.handle))
        if any(task.cancelled for task in self.queue):  # they wait for nothing now
            self.queue = deque(task for task in self.queue if not task.cancelled)
        for task in self.tasks.values():
            if task.cancelled and task.phase in (Phase.FETCHING, Phase.WAITING):
                task.phase = Phase.ENDING
        actions += self._delete([oid for oid in self.objects if oid.session_id == sid])
        return actions + self._grant()

    # --- queries --------------------------------------------------------------------------

    def validate(self) -> None:
        """Raises AssertionError when an invariant does not hold (tests call it after every event)."""
        running = [t for t in self.tasks.values() if t.phase is Phase.RUNNING]
        assert self.free_cpus >= 0, self.free_cpus
        assert self.free_cpus + sum(t.cpus for t in running) == self.cpus
        waiting = [t for t in self.tasks.values() if t.phase is Phase.WAITING]
        assert set(waiting) == set(self.queue) and len(waiting) == len(self.queue)
        assert all(not t.cancelled for t in self.queue)
        assert all(t.cancelled for t in self.tasks.values() if t.phase is Phase.ENDING)
        assert not self.queue or self.queue[0].cpus > self.free_cpus
        assert not any(oid.session_id in self.dropped for oid in self.objects)
