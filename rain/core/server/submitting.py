"""Applying a submit that submit.py's checks let through: building the session's nodes and
making ready the tasks whose inputs exist."""

from __future__ import annotations

import functools
import operator
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

from rain.common.rows import (
    OBJECT_CONTENT_TYPE,
    OBJECT_DATA,
    OBJECT_DATA_TYPE,
    OBJECT_ID,
    OBJECT_KEEP,
    OBJECT_LABEL,
    OBJECT_SIZE_HINT,
    OBJECT_USER,
    TASK_ID,
    TASK_INPUTS,
    TASK_OUTPUTS,
    TASK_RESOURCES,
    TASK_TYPE,
)
from rain.common.states import DataObjectState
from rain.core.server.base import RequestError
from rain.core.server.garbage import GarbageCollection
from rain.core.server.scheduling import Scheduling
from rain.core.server.state import ObjectNode, SessionState, TaskNode
from rain.core.server.submit import SubmitError, check_submit, task_cpus

FINISHED = DataObjectState.finished
_task_type = operator.itemgetter(TASK_TYPE)

# A large submit's first tasks are assigned before the rest is built (`Server.submit`): its
# first tasks go out a few milliseconds sooner, and the governors start on them meanwhile.
EARLY_PART = 256


class Submitting(Scheduling, GarbageCollection):
    """A submit makes its tasks ready and releases the constants no task needs, so it builds
    on scheduling and garbage collection."""

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
            self.record_event("TasksSubmitted", session=session.id, task_types=dict(Counter(map(_task_type, tasks))))
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



def _apply_testing_placement(obj: ObjectNode) -> None:
    """Scheduler test mode: `user["_testing"]` pretends the constant is already on governors."""
    testing = obj.user.get("_testing") if obj.user else None
    if isinstance(testing, dict):
        obj.test_holders = [str(g) for g in testing.get("governors", ())]
        obj.size = int(testing.get("size", obj.size))

