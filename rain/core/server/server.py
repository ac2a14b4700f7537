"""The server's brain: sessions, graph bookkeeping, scheduling and garbage collection.

Everything here is synchronous and does no I/O: handlers mutate state and push messages into
the links' outboxes, which the connection tasks flush. Because trio runs one task at a time and
no handler awaits, no state is ever seen half-updated.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Collection
from typing import Any

from rain.common.ids import ID
from rain.common.rows import (
    OBJECT_CONTENT_TYPE,
    OBJECT_DATA,
    OBJECT_DATA_TYPE,
    OBJECT_ID,
    OBJECT_KEEP,
    OBJECT_LABEL,
    OBJECT_SIZE_HINT,
    OBJECT_USER,
    OUTPUT_DATA,
    OUTPUT_ID,
    OUTPUT_INFO,
    REPORT_INFO,
    REPORT_OUTPUTS,
    REPORT_SESSION_ID,
    REPORT_TASK_ID,
    TASK_ID,
    TASK_INPUTS,
    TASK_OUTPUTS,
    TASK_RESOURCES,
    TASK_TYPE,
    AssignedTask,
    NodeUpdate,
)
from rain.common.states import DataObjectState, TaskState
from rain.core.protocol import messages as m
from rain.core.protocol.messages import ErrorCategory
from rain.core.server.held import HeldOutputs
from rain.core.server.progress import ProgressWatchers
from rain.core.server.recovery import forget_governor, recover_objects, strike
from rain.core.server.scheduler import any_refilling, place, queue_depth, refilling
from rain.core.server.state import Attempts, GovernorState, ObjectNode, SessionState, TaskNode, Waiter
from rain.core.server.submit import SubmitError, SubmitLimits, check_submit, task_cpus, task_retries

logger = logging.getLogger(__name__)

FINISHED = DataObjectState.finished

# A large submit's first tasks are assigned before the rest is built (`Server.submit`): its
# first tasks go out a few milliseconds sooner, and the governors start on them meanwhile.
EARLY_PART = 256


class RequestError(Exception):
    """A client request is refused; `category` selects the client's exception class."""

    def __init__(self, message: str, category: ErrorCategory = ErrorCategory.RAIN, task_id: Any = None) -> None:
        super().__init__(message)
        self.category = category
        self.task_id = task_id


class Server:
    def __init__(self, *, delete_timeout: float = 2.0, test_mode: bool = False,
                 clock: Callable[[], float] = time.monotonic, events: Any = None,
                 submit_limits: SubmitLimits | None = None, heartbeat_timeout: float = 10.0,
                 max_governor_losses: int = 3) -> None:
        self.delete_timeout = delete_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self.max_governor_losses = max_governor_losses
        self.submit_limits = submit_limits or SubmitLimits()
        self.refused: Counter[str] = Counter()  # connections refused in their handshake, by reason
        self.test_mode = test_mode
        self.clock = clock
        self.events = events
        self.sessions: dict[int, SessionState] = {}
        self.governors: dict[str, GovernorState] = {}
        self.type_counts: Counter[str] = Counter()
        self.input_kinds: dict[str, list[str]] = {}  # task type -> accepted inputs, when declared
        self.ready: dict[tuple[int, str], deque[TaskNode]] = {}
        self.durations: dict[str, float] = {}
        self.progress = ProgressWatchers()
        self.held = HeldOutputs()  # small kept outputs, to answer their fetch without the governor
        self._next_session_id = 1
        self.journal: Any = None  # a `Journal` (journal.py), or None: nothing survives a restart
        self.incarnation = ""  # names this server's session numbering for reconnecting governors
        self.restoring: set[str] | None = None  # governors awaited after a restore; None: not restoring
        self.lost_governors: set[str] = set()  # declared lost by this process: what they report is not trusted
        # requests answered once the restore is over: (client link, request id, handler)
        self.after_restore: list[tuple[Any, int, Callable[[], None]]] = []

    def journal_append(self, item: list[Any]) -> None:
        if self.journal is not None:
            self.journal.append(item)

    def acknowledge(self, link: Any, reply: m.Message) -> None:
        """Sends a reply once what it confirms is in the journal (at once without a journal)."""
        if self.journal is None:
            link.send(reply)
        else:
            self.journal.after_write(lambda: link.send(reply))

    def record_event(self, kind: str, **fields: Any) -> None:
        if self.events is not None:
            self.events.record(kind, fields)

    # --- sessions -------------------------------------------------------------------------

    def new_session(self, client: Any, name: str, keep_alive: bool = False) -> int:
        sid = self._next_session_id
        self._open_session(sid, name, client, keep_alive)
        return sid

    def _open_session(self, sid: int, name: str, client: Any, keep_alive: bool) -> None:
        self._next_session_id = max(self._next_session_id, sid + 1)
        self.sessions[sid] = SessionState(sid, name, client, keep_alive)
        self.journal_append(["session", sid, name, keep_alive])
        self.record_event("SessionNew", session=sid, name=name)

    def session(self, client: Any, session_id: int) -> SessionState:
        """The session a client may use: its own, or any keep-alive one (shared by design:
        every client holding the cluster key may attach to it)."""
        session = self.sessions.get(session_id)
        if session is None or (session.client is not client and not session.keep_alive):
            raise RequestError(f"session {session_id} is closed or unknown", ErrorCategory.SESSION)
        return session

    def attach_session(self, client: Any, session_id: int, describe: bool = True) -> dict[str, Any] | None:
        """A client takes a keep-alive session, or a session restored from the journal takes
        its reconnecting client back (`describe` False: no need for the object rows)."""
        session = self.sessions.get(session_id)
        if session is None:
            raise RequestError(f"session {session_id} is closed or unknown", ErrorCategory.SESSION)
        if not session.keep_alive and session.client is not None:
            raise RequestError(f"session {session_id} was not created with keep_alive=True; "
                               "only keep-alive sessions can be attached", ErrorCategory.SESSION)
        self.check_alive(session)
        if session.client is None:
            session.client = client
        if not describe:
            return None
        objects = [[o.id, o.label, o.data_type, o.content_type, o.keep, o.state.value]
                   for o in session.objects.values()]
        last = max(max(session.tasks, default=0), max(session.objects, default=0))
        return {"name": session.name, "objects": objects, "last_id": last}

    def check_alive(self, session: SessionState) -> None:
        if session.error is not None:
            raise RequestError(session.error, ErrorCategory.TASK, session.failed_task)

    def close_session(self, session: SessionState, reason: str = "closed") -> None:
        if session.closed:
            return
        session.closed = True
        self.sessions.pop(session.id, None)
        self._answer_session_waiters(session, RequestError(f"session {session.id} was {reason}",
                                                           ErrorCategory.SESSION))
        if session.error is None:
            self._drop_session_data(session)
        _forget_graph(session)
        self.journal_append(["close", session.id])
        self.record_event("SessionClosed", session=session.id, reason=reason)

    def fail_session(self, session: SessionState, message: str, task: TaskNode | None = None) -> None:
        if not session.alive:
            return
        session.error = message
        session.failed_task = list(task.full_id) if task is not None else None
        self._answer_session_waiters(session, RequestError(message, ErrorCategory.TASK, session.failed_task))
        self._drop_session_data(session)
        self.journal_append(["failed", session.id, message, session.failed_task])
        self.record_event("SessionFailed", session=session.id, message=message,
                          task=task.id if task is not None else None)

    def _drop_session_data(self, session: SessionState) -> None:
        """Tells every governor to cancel the session's tasks and forget its objects."""
        sid = session.id
        for gov in self.governors.values():
            gov.link.drop_session(sid)
            gov.objects = {i for i in gov.objects if i.session_id != sid}
            for oid in [i for i in gov.to_delete if i.session_id == sid]:
                del gov.to_delete[oid]
        for obj in session.objects.values():
            obj.holders.clear()
            obj.data = None
        self.held.drop_session(sid)

    def client_lost(self, client: Any) -> None:
        """Closes the client's sessions, except keep-alive ones, which only forget it."""
        for session in [s for s in self.sessions.values() if s.client is client]:
            if session.keep_alive:
                session.client = None
                for waiter in [w for w in session.waiters if w.link is client]:
                    session.waiters.discard(waiter)
                session.all_waiters = [w for w in session.all_waiters if w.link is not client]
            else:
                self.close_session(session, "closed because its client disconnected")

    # --- submit ---------------------------------------------------------------------------

    def submit(self, session: SessionState, tasks: list[Any], objects: list[Any], frame: bytes | None = None,
               send_early: Callable[[], None] | None = None) -> None:
        """`frame`: the client's Submit message as received, journaled as it is (not encoded again).
        `send_early` writes out what was queued so far: with it, the first tasks of a large submit
        are assigned (and their governors start) while the rest is applied."""
        self.check_alive(session)
        offered = set(self.type_counts) if self.governors else None
        largest = max((g.cpus for g in self.governors.values()), default=None)
        try:
            check_submit(session, tasks, objects, offered, largest, self.input_kinds)
        except SubmitError as exc:
            raise RequestError(f"submit refused: {exc}") from None
        self.journal_append(["submit", session.id, tasks, objects] if frame is None else
                            ["submit_frame", session.id, frame])
        early = None
        if send_early is not None and len(tasks) >= 2 * EARLY_PART and self.governors:
            early = functools.partial(self._assign_early, send_early)
        self._apply_submit(session, tasks, objects, early)
        if self.events is not None:
            self.record_event("TasksSubmitted", session=session.id, task_types=dict(Counter(t[1] for t in tasks)))
        self.schedule()

    def _apply_submit(self, session: SessionState, tasks: list[Any], objects: list[Any],
                      early: Callable[[], None] | None = None) -> None:
        """Builds the nodes of a checked submit (live, and for every submit of a restored journal:
        the per-task steps here are what a restart spends most of its time on).

        With `early`, the first `EARLY_PART` tasks (and the objects they name) are built first and
        made ready, and `early` is called before the rest is built (nothing else runs between:
        no report can come in meanwhile, so what is not built yet is never looked for)."""
        split = _objects_named(session, tasks[:EARLY_PART], objects) if early is not None else 0
        new_objects = []
        if split and early is not None:
            new_objects = self._add_objects(session, objects[:split])
            self._add_tasks(session, tasks[:EARLY_PART])
            early()
            tasks, objects = tasks[EARLY_PART:], objects[split:]
        new_objects += self._add_objects(session, objects)
        self._add_tasks(session, tasks)
        for obj in new_objects:
            self._maybe_release(obj)

    def _assign_early(self, send: Callable[[], None]) -> None:
        self.schedule()
        send()

    def _add_objects(self, session: SessionState, objects: list[Any]) -> list[ObjectNode]:
        nodes = session.objects
        new_objects = []
        intern = sys.intern
        for row in objects:
            oid, label, data, size_hint = row[OBJECT_ID], row[OBJECT_LABEL], row[OBJECT_DATA], row[OBJECT_SIZE_HINT]
            if label is not None:
                label = intern(label)
            obj = ObjectNode(session, oid, label, row[OBJECT_CONTENT_TYPE], intern(row[OBJECT_DATA_TYPE]),
                             row[OBJECT_USER], row[OBJECT_KEEP])
            if size_hint:
                obj.size = size_hint
            if data is not None:
                obj.data = data
                obj.size = len(data)
                obj.state = FINISHED
                if self.test_mode and obj.user:
                    _apply_testing_placement(obj)
            nodes[oid] = obj
            new_objects.append(obj)
        return new_objects

    def _add_tasks(self, session: SessionState, tasks: list[Any]) -> None:
        """Builds the task nodes (their objects exist) and makes ready those with their inputs."""
        new_tasks = []
        node = session.objects.__getitem__
        intern = sys.intern
        for row in tasks:
            inputs = list(map(node, row[TASK_INPUTS][::2]))  # [id, label, id, label, ...]
            outputs = list(map(node, row[TASK_OUTPUTS]))
            task_type = row[TASK_TYPE] = intern(row[TASK_TYPE])
            resources = row[TASK_RESOURCES]
            task = TaskNode(session, row, task_type, resources if type(resources) is int else task_cpus(row),
                            inputs, outputs)
            for out in outputs:
                out.producer = task
            unfinished = 0
            for inp in inputs:
                if inp.consumers is None:
                    inp.consumers = [task]
                else:
                    inp.consumers.append(task)
                inp.pending_consumers += 1
                if inp.state is not FINISHED:
                    unfinished += 1
            task.unfinished_inputs = unfinished
            session.tasks[row[TASK_ID]] = task
            new_tasks.append(task)
        session.unfinished_tasks += len(new_tasks)
        for task in new_tasks:
            if task.unfinished_inputs == 0:
                self._make_ready(task)

    # --- scheduling -----------------------------------------------------------------------

    def _make_ready(self, task: TaskNode) -> None:
        task.state = TaskState.ready
        key = (task.cpus, task.task_type)
        queue = self.ready.get(key)
        if queue is None:
            queue = self.ready[key] = deque()
        queue.append(task)

    def schedule(self) -> None:
        if not self.governors or not self.ready or self.restoring is not None:
            return
        governors = self.governors.values()
        if not any_refilling(governors):  # a finish under load: every queue is still full enough
            return
        for key in sorted(self.ready, key=lambda k: -k[0]):  # big tasks first, while big holes exist
            queue = self.ready[key]
            task_type = key[1]
            queue_ahead = queue_depth(self.durations.get(task_type))
            candidates = governors if queue_ahead == 0 else refilling(governors, queue_ahead)
            while queue:
                task = queue[0]
                if task.state is not TaskState.ready or not task.session.alive:
                    queue.popleft()
                    continue
                gov = place(task, candidates, queue_ahead)
                if gov is None:  # it waits, also when no governor offers its type any more
                    break
                queue.popleft()
                self._assign(task, gov)
            if not queue:
                del self.ready[key]

    def _assign(self, task: TaskNode, gov: GovernorState) -> None:
        inputs: list[Any] = []
        for obj in task.inputs:
            if gov.id in obj.holders:
                inputs.append(obj.id)  # already there: the id is enough
                continue
            data = location = None
            if obj.data is not None:
                data = obj.data
            else:
                holder = next(iter(obj.holders), None)
                if holder is None:
                    self.fail_session(task.session, f"input {obj.full_id} of task {task.describe()} was lost")
                    return
                location = self.governors[holder].data_address
            inputs.append([obj.row(), obj.info, location, data])  # a SentInput row
        task.state = TaskState.assigned
        task.governor = gov
        gov.free_cpus -= task.cpus
        gov.running[task.full_id] = task
        report_data = None
        if self.held.has_room():  # kept outputs may be fetched: small ones come with the result
            report_data = [o.id for o in task.outputs if o.keep] or None
        gov.link.assign(AssignedTask(task.session.id, task.row, inputs, [o.row() for o in task.outputs], report_data))

    # --- governors ------------------------------------------------------------------------

    def add_governor(self, gov: GovernorState, objects: Collection[Any] = (), tasks: Collection[Any] = ()) -> None:
        """`objects` and `tasks`: what a governor registering again still holds (restore.py)."""
        from rain.core.server.restore import adopt_inventory, governor_back

        if gov.id in self.governors:
            raise RequestError(f"governor {gov.id} is already registered")
        self.governors[gov.id] = gov
        self.type_counts.update(gov.task_types)
        self.input_kinds.update(gov.input_kinds)
        self.journal_append(["governor", 0, gov.id])
        self.record_event("GovernorNew", governor=gov.id, cpus=gov.cpus)
        if objects or tasks:
            adopt_inventory(self, gov, objects, tasks)
        governor_back(self, gov)
        self.schedule()

    def remove_governor(self, gov: GovernorState, reason: str = "its connection closed") -> None:
        """The governor is lost: its tasks run elsewhere, what only it held is recomputed
        (`recovery.forget_governor`), and the other governors stop fetching from it. Its
        tasks wait, also those of a type no other governor offers, until a governor can run
        them."""
        if self.governors.get(gov.id) is not gov:
            return
        del self.governors[gov.id]
        self.type_counts.subtract(gov.task_types)
        self.type_counts = +self.type_counts
        for gone in gov.task_types - self.type_counts.keys():
            self.input_kinds.pop(gone, None)
        for other in self.governors.values():
            other.link.peer_lost(gov.data_address)
        self.journal_append(["governor_lost", 0, gov.id])
        self.lost_governors.add(gov.id)
        forget_governor(self, gov, reason)

    def governor_alive(self, gov: GovernorState) -> None:
        """A heartbeat: tasks whose fetch from `gov` failed run again (one strike each), as
        the failure was not the loss of `gov`."""
        if not gov.suspected_by or self.governors.get(gov.id) is not gov:
            return
        suspects, gov.suspected_by = gov.suspected_by, []
        retried = [t for t in dict.fromkeys(suspects) if t.state is TaskState.not_assigned
                   and strike(self, t, gov.id, f"fetching an input from governor {gov.id} failed")]
        recover_objects(self, (), retried)

    def tasks_updated(self, gov: GovernorState, finished: list[Any], failed: list[Any]) -> None:
        if self.governors.get(gov.id) is not gov:
            return  # a late report from a governor declared lost: its work is being redone
        for item in finished:
            self._task_finished(gov, item)
        for item in failed:
            self._task_failed(gov, item)
        self.schedule()

    def _release_cpus(self, gov: GovernorState, session_id: int, task_id: int) -> TaskNode | None:
        task = gov.running.pop(ID(session_id, task_id), None)
        if task is not None:
            gov.free_cpus += task.cpus
        return task

    def _task_finished(self, gov: GovernorState, item: list[Any]) -> None:
        """`item` is a FinishedTask row."""
        session_id, task_id, info = item[REPORT_SESSION_ID], item[REPORT_TASK_ID], item[REPORT_INFO]
        task = self._release_cpus(gov, session_id, task_id)
        if task is None or not task.session.alive:
            return
        outputs = item[REPORT_OUTPUTS]
        if not _reported_outputs_match(outputs, task.outputs):
            task.state = TaskState.failed
            self.fail_session(task.session, f"governor {gov.id} reported outputs {[o[OUTPUT_ID] for o in outputs]} "
                                            f"of task {task.describe()}, expected {[o.id for o in task.outputs]}", task)
            return
        task.set_info(info)
        self._record_duration(task)
        if self.events is not None:  # the one event per task: its fields as a dict at once, no keywords
            self.events.record("TaskFinished", {"session": session_id, "task": task_id, "governor": gov.id,
                                                "name": task.name, "task_type": task.task_type,
                                                "start_time": task.start_time, "duration": task.duration})
        self.finish_task(task, outputs, gov)

    def finish_task(self, task: TaskNode, outputs: list[Any], gov: GovernorState | None) -> None:
        """A task's outputs are finished (`outputs`: ReportedOutput rows), held by `gov`; None
        when replayed from the journal, where the holders are the governors that come back."""
        task.state = TaskState.finished
        session = task.session
        if self.journal is not None:  # without the data of small outputs: the governors hold it
            self.journal_append(["finished", session.id, task.id, [o[:OUTPUT_DATA] for o in outputs]])
        for obj, output in zip(task.outputs, outputs, strict=True):
            obj.set_info(output[OUTPUT_INFO])
            obj.state = FINISHED
            if gov is not None:
                if gov.id not in obj.holders:
                    obj.holders.append(gov.id)
                gov.objects.add(ID(session.id, obj.id))
                if len(output) > OUTPUT_DATA and output[OUTPUT_DATA] is not None:
                    self.held.offer(obj, output[OUTPUT_DATA])
            if obj.waiters:
                self._notify(obj)
            consumers, obj.consumers = obj.consumers, None
            for consumer in consumers or ():
                consumer.unfinished_inputs -= 1
                if consumer.unfinished_inputs == 0 and consumer.state is TaskState.not_assigned:
                    self._make_ready(consumer)
        for obj in task.inputs:
            obj.pending_consumers -= 1
            if gov is not None and obj.state is FINISHED and gov.id not in obj.holders:
                obj.holders.append(gov.id)
                gov.objects.add(obj.full_id)
            self._maybe_release(obj)
        task.inputs = []
        for obj in task.outputs:
            self._maybe_release(obj)
        session.unfinished_tasks -= 1
        if task.waiters:
            self._notify(task)
        if session.unfinished_tasks == 0 and session.all_waiters:
            for waiter in session.all_waiters:
                self._answer(session, waiter, None)
            session.all_waiters.clear()

    def _record_duration(self, task: TaskNode) -> None:
        """A running average of durations per task type decides which tasks may queue ahead."""
        duration = task.duration
        if duration is None:
            return
        old = self.durations.get(task.task_type)
        self.durations[task.task_type] = duration if old is None else 0.9 * old + 0.1 * duration

    def _task_failed(self, gov: GovernorState, item: list[Any]) -> None:
        """`item` is a FailedTask row."""
        session_id, task_id, info = item[REPORT_SESSION_ID], item[REPORT_TASK_ID], item[REPORT_INFO]
        task = self._release_cpus(gov, session_id, task_id)
        if task is None or not task.session.alive:
            return
        self._inputs_left_on(gov, task, info.pop("inputs_here", None))
        if self._retry_failed(gov, task, info):
            return
        task.state = TaskState.failed
        task.set_info(info)
        error = info.get("error") or "unknown error"
        self.record_event("TaskFailed", session=session_id, task=task_id, governor=gov.id, name=task.name,
                          task_type=task.task_type, start_time=info.get("start_time"),
                          duration=info.get("duration"), error=error)
        message = f"task {task.describe()} failed on governor {gov.id}: {error}"
        if task.attempts is not None:
            message += f" (attempt {task.attempts.count})"
        if info.get("debug"):
            message += f"\ndebug:\n{info['debug']}"
        self.fail_session(task.session, message, task)

    def _inputs_left_on(self, gov: GovernorState, task: TaskNode, ids: Any) -> None:
        """A failed run leaves the inputs it brought on its governor (`ids`: those stored there).
        A finish would have made `gov` their holder; a failure must too, or nothing deletes
        them there once the retry runs elsewhere. A copy of an input released meanwhile is
        deleted at once. One of an input being recomputed (its holder lost since) is left:
        the new copy may be made on `gov` itself, before this delete would arrive."""
        if not isinstance(ids, list) or not task.inputs:
            return
        here = set(ids)
        for obj in task.inputs:
            if obj.id not in here:
                continue
            if obj.state is FINISHED:
                obj.add_holder(gov.id)
                gov.objects.add(obj.full_id)
            elif obj.state is DataObjectState.removed and gov.id not in obj.holders:
                gov.link.delete(obj.full_id)

    def _retry_failed(self, gov: GovernorState, task: TaskNode, info: dict[str, Any]) -> bool:
        """Whether a failed run is retried: an input that could not be fetched from a peer
        (that peer lost or suspect), a crashed executor (a strike), or the task's own error
        within the `retries` it asked for."""
        task.governor = None
        error = info.get("error") or "unknown error"
        source = info.get("input_unavailable")
        if isinstance(source, str):
            task.state = TaskState.not_assigned
            holder = self.governors.get(source)
            missing = [i for i in task.inputs if not i.available]
            if holder is not None and not missing and any(holder.id in i.holders for i in task.inputs):
                holder.suspected_by.append(task)  # it looks alive: wait for its loss or its next heartbeat
                return True
            # The copy it was sent to fetch is gone (possibly with an earlier governor at the
            # same address, lost since): it waits for its inputs, recomputed if need be.
            recover_objects(self, missing, [task])
            return True
        if info.get("crashed"):
            if strike(self, task, gov.id, f"on governor {gov.id}: {error}"):
                recover_objects(self, (), [task])
            return True
        if (task.attempts.own_failures if task.attempts else 0) < task_retries(task.row):
            attempts = task.attempts = task.attempts or Attempts()
            attempts.own_failures += 1
            attempts.errors.append(f"on governor {gov.id}: {error}")
            task.state = TaskState.not_assigned
            self.record_event("TaskRetried", session=task.session.id, task=task.id, name=task.name,
                              governor=gov.id, attempt=attempts.count, reason=error)
            recover_objects(self, (), [task])
            return True
        return False

    # --- garbage collection ---------------------------------------------------------------

    def _maybe_release(self, obj: ObjectNode) -> None:
        if obj.state is not FINISHED or obj.keep or obj.pending_consumers > 0:
            return
        obj.state = DataObjectState.removed  # a constant keeps its data: lineage may need it again
        if not obj.holders:
            return
        full_id = obj.full_id
        deadline = self.clock() + self.delete_timeout
        for gid in obj.holders:
            gov = self.governors.get(gid)
            if gov is None:
                continue
            if self.delete_timeout <= 0:
                gov.objects.discard(full_id)
                gov.link.delete(full_id)
            else:
                gov.to_delete[full_id] = deadline
        obj.holders.clear()

    def run_deletions(self) -> None:
        """Sends the delete lists whose time has come (called periodically).

        Entries are added with one fixed timeout, so the dict's insertion order is deadline
        order: a tick looks only at the entries that are due, however many are waiting.
        """
        now = self.clock()
        for gov in self.governors.values():
            due = []
            for oid, deadline in gov.to_delete.items():
                if deadline > now:
                    break
                due.append(oid)
            for oid in due:
                del gov.to_delete[oid]
                gov.objects.discard(oid)
                gov.link.delete(oid)

    def unkeep(self, session: SessionState, ids: list[ID]) -> None:
        self.check_alive(session)
        nodes = [self._object(session, oid) for oid in ids]
        self.journal_append(["unkeep", session.id, [list(i) for i in ids]])
        for obj in nodes:
            obj.keep = False
            self.held.drop(obj)  # no fetch can come for it any more
            self._maybe_release(obj)

    # --- client queries -------------------------------------------------------------------

    def _object(self, session: SessionState, oid: ID) -> ObjectNode:
        obj = session.objects.get(oid.id) if oid.session_id == session.id else None
        if obj is None:
            raise RequestError(f"object {oid} is not submitted in session {session.id}")
        return obj

    def _node(self, session: SessionState, nid: ID) -> TaskNode | ObjectNode:
        node = None
        if nid.session_id == session.id:
            node = session.tasks.get(nid.id) or session.objects.get(nid.id)
        if node is None:
            raise RequestError(f"{nid} is not a submitted task or object of session {session.id}")
        return node

    def wait(self, session: SessionState, link: Any, request_id: int, ids: list[ID], wait_all: bool,
             progress: bool = False) -> None:
        self.check_alive(session)
        if wait_all:
            if session.unfinished_tasks == 0:
                link.send(m.Ok(request_id))
            else:
                waiter = Waiter(link, request_id, 1)
                session.all_waiters.append(waiter)
                session.waiters.add(waiter)
                if progress:
                    self.progress.watch(session, waiter, None)
            return
        nodes = [self._node(session, i) for i in ids]
        pending = [n for n in nodes if not _is_done(n)]
        if not pending:
            link.send(m.Ok(request_id))
            return
        waiter = Waiter(link, request_id, len(pending))
        session.waiters.add(waiter)
        for node in pending:
            if node.waiters is None:
                node.waiters = []
            node.waiters.append(waiter)
        if progress:
            self.progress.watch(session, waiter, len(nodes))

    def fetch(self, session: SessionState, link: Any, request_id: int, oid: ID) -> None:
        self.check_alive(session)
        obj = self._object(session, oid)
        if not obj.keep:
            raise RequestError(f"object {oid} is not kept; only kept objects can be fetched")
        if obj.state is FINISHED:
            if self.restoring is not None and obj.data is None and not obj.holders:  # its governor may come back
                self.after_restore.append((link, request_id, lambda: self.fetch(session, link, request_id, oid)))
                return
            link.send(self._fetch_reply(obj, request_id))
            return
        waiter = Waiter(link, request_id, 1, fetch_object=obj)
        session.waiters.add(waiter)
        if obj.waiters is None:
            obj.waiters = []
        obj.waiters.append(waiter)

    def _fetch_reply(self, obj: ObjectNode, request_id: int) -> m.Message:
        data = obj.data if obj.data is not None else self.held.take(obj)
        if data is not None:
            return m.FetchReady(request_id, obj.info, obj.data_type, data, None)
        for gid in obj.holders:
            gov = self.governors.get(gid)
            if gov is not None:
                return m.FetchReady(request_id, obj.info, obj.data_type, None, gov.data_address)
        return m.Error(request_id, f"object {obj.full_id} is not available on any governor")

    def update(self, session: SessionState, ids: list[ID]) -> m.Updated:
        self.check_alive(session)
        tasks: list[Any] = []
        objects: list[Any] = []
        for nid in ids:
            node = self._node(session, nid)
            row = NodeUpdate(list(nid), node.state.value, node.info)
            (tasks if isinstance(node, TaskNode) else objects).append(row)
        return m.Updated(0, tasks, objects)

    def server_info(self) -> dict[str, Any]:
        waiting = self._ready_by_session()
        return {
            "governors": [g.summary() for g in self.governors.values()],
            "sessions": [{"session_id": s.id, "name": s.name, "tasks": len(s.tasks),
                          "unfinished_tasks": s.unfinished_tasks, "error": s.error, "state": s.status,
                          "keep_alive": s.keep_alive, "attached": s.client is not None,
                          "waiting_tasks": waiting.get(s.id, 0)}
                         for s in self.sessions.values()],
            "refused_connections": dict(sorted(self.refused.items())),
            "held_outputs": self.held.summary(),
        }

    def _ready_by_session(self) -> Counter[int]:
        """Ready tasks not yet placed on a governor (none can take them now), by session."""
        ready = {id(t): t for queue in self.ready.values() for t in queue if t.state is TaskState.ready}
        return Counter(t.session.id for t in ready.values())

    # --- waiters --------------------------------------------------------------------------

    def _notify(self, node: TaskNode | ObjectNode) -> None:
        waiters, node.waiters = node.waiters, None
        for waiter in waiters or ():
            waiter.remaining -= 1
            if waiter.remaining == 0:
                self._answer(node.session, waiter, None)

    def _answer(self, session: SessionState, waiter: Waiter, error: RequestError | None) -> None:
        session.waiters.discard(waiter)
        if error is not None:
            waiter.link.send(m.Error(waiter.request_id, str(error), error.category.value, error.task_id))
        elif waiter.fetch_object is not None:
            waiter.link.send(self._fetch_reply(waiter.fetch_object, waiter.request_id))
        else:
            waiter.link.send(m.Ok(waiter.request_id))

    def _answer_session_waiters(self, session: SessionState, error: RequestError) -> None:
        for waiter in list(session.waiters):
            waiter.remaining = -1
            self._answer(session, waiter, error)
        session.all_waiters.clear()


def _objects_named(session: SessionState, tasks: list[Any], objects: list[Any]) -> int:
    """How many of the submit's `objects`, from the first, must be built for `tasks`: those
    up to the last new object the tasks name (a client lists objects as it made them, so for
    the first tasks of a submit these are the first objects); 0 when that is all of them."""
    old = session.objects
    needed = {oid for row in tasks for oid in row[TASK_INPUTS][::2] if oid not in old}
    needed.update(oid for row in tasks for oid in row[TASK_OUTPUTS])
    for i, row in enumerate(objects):
        needed.discard(row[OBJECT_ID])
        if not needed:
            return i + 1 if i + 1 < len(objects) else 0
    return 0


def _reported_outputs_match(outputs: list[Any], expected: list[ObjectNode]) -> bool:
    """Whether a governor reported exactly the task's outputs, in order (a plain loop: this
    runs for every finished task)."""
    if len(outputs) != len(expected):
        return False
    for out, obj in zip(outputs, expected, strict=True):  # noqa: SIM110 (all() + a generator costs more)
        if out[OUTPUT_ID] != obj.id:
            return False
    return True


def _apply_testing_placement(obj: ObjectNode) -> None:
    """Scheduler test mode: `user["_testing"]` pretends the constant is already on governors."""
    testing = obj.user.get("_testing") if obj.user else None
    if isinstance(testing, dict):
        obj.test_holders = [str(g) for g in testing.get("governors", ())]
        obj.size = int(testing.get("size", obj.size))


def _is_done(node: TaskNode | ObjectNode) -> bool:
    if isinstance(node, TaskNode):
        return node.state is TaskState.finished
    return node.state is not DataObjectState.unfinished


def _forget_graph(session: SessionState) -> None:
    """Breaks the reference cycles of a closed session's graph (node <-> session, task inputs <->
    object consumers), so reference counting frees it at once. The server raises the GC's
    thresholds for speed, and a full collection may not come for a long time."""
    for task in session.tasks.values():
        task.inputs = []
        task.waiters = None
    for obj in session.objects.values():
        obj.consumers = None
        obj.waiters = None
        obj.producer = None
    session.tasks = {}
    session.objects = {}
