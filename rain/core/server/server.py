"""The server's brain: sessions, graph bookkeeping, scheduling and garbage collection.

`Server` is the one object everyone uses (connection handlers, restore.py, recovery.py, the
monitor). It is assembled from one class per concern, each deriving from the parts it calls
into: base.py (the state, the journal and event hooks), waiters.py, sessions.py, queries.py,
garbage.py, scheduling.py and submitting.py. What governors tell the server is here: a
governor joins, is lost or sends a heartbeat, and reports finished and failed tasks, which
drive all the other parts (and hand the whole `Server` to recovery.py and restore.py).

Everything is synchronous and does no I/O: handlers mutate state and push messages into
the links' outboxes, which the connection tasks flush. Because trio runs one task at a time and
no handler awaits, no state is ever seen half-updated.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from rain.common.rows import (
    OUTPUT_DATA,
    OUTPUT_ID,
    OUTPUT_INFO,
    REPORT_INFO,
    REPORT_OUTPUTS,
    REPORT_SESSION_ID,
    REPORT_TASK_ID,
    TASK_NAME,
)
from rain.common.states import DataObjectState, TaskState
from rain.core.server.base import RequestError
from rain.core.server.queries import ClientQueries
from rain.core.server.recovery import forget_governor, recover_objects, strike
from rain.core.server.state import Attempts, GovernorState, ObjectNode, TaskNode
from rain.core.server.submit import task_retries
from rain.core.server.submitting import EARLY_PART, Submitting

__all__ = ["EARLY_PART", "RequestError", "Server"]


FINISHED = DataObjectState.finished


class Server(Submitting, ClientQueries):
    """The whole server: every part combined, plus the governors' side. Combining classes costs
    nothing per call: Python caches each method's lookup per type."""

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
        # A plain tuple finds the ID key it equals, without building an ID.
        task = gov.running.pop((session_id, task_id), None)  # type: ignore[call-overload]
        if task is not None:
            gov.free_cpus += task.cpus
        return task

    def _task_finished(self, gov: GovernorState, item: list[Any]) -> None:
        """`item` is a FinishedTask row. This runs once per task of every graph: the average
        duration is kept inline."""
        session_id, task_id, info = item[REPORT_SESSION_ID], item[REPORT_TASK_ID], item[REPORT_INFO]
        task = self._release_cpus(gov, session_id, task_id)
        if task is None or not task.session.alive:
            return
        session = task.session
        outputs = item[REPORT_OUTPUTS]
        expected = task.outputs
        if not _reported_outputs_match(outputs, expected):
            task.state = TaskState.failed
            self.fail_session(session, f"governor {gov.id} reported outputs {[o[OUTPUT_ID] for o in outputs]} "
                                       f"of task {task.describe()}, expected {[o.id for o in expected]}", task)
            return
        task.set_info(info)
        duration = task.duration
        if duration is not None:  # a running average per task type decides which tasks may queue ahead
            durations = self.durations
            old = durations.get(task.task_type)
            durations[task.task_type] = duration if old is None else 0.9 * old + 0.1 * duration
        if self.events is not None:  # the one event per task: its fields as a dict at once, no keywords
            self.events.record("TaskFinished", {"session": session_id, "task": task_id, "governor": gov.id,
                                                "name": task.row[TASK_NAME], "task_type": task.task_type,
                                                "start_time": task.start_time, "duration": duration})
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
                gov.objects.add(obj.full_id)
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


def _reported_outputs_match(outputs: list[Any], expected: list[ObjectNode]) -> bool:
    """Whether a governor reported exactly the task's outputs, in order (a plain loop: this
    runs for every finished task)."""
    if len(outputs) != len(expected):
        return False
    if len(outputs) == 1:  # the usual task
        return bool(outputs[0][OUTPUT_ID] == expected[0].id)
    for out, obj in zip(outputs, expected, strict=True):  # noqa: SIM110 (all() + a generator costs more)
        if out[OUTPUT_ID] != obj.id:
            return False
    return True

