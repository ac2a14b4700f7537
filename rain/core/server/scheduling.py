"""Scheduling: the ready queues, and the assignment of ready tasks to governors (where a task
goes is the policy of scheduler.py)."""

from __future__ import annotations

from collections import deque
from typing import Any

from rain.common.rows import AssignedTask
from rain.common.states import TaskState
from rain.core.server.scheduler import any_refilling, place, queue_depth, refilling
from rain.core.server.sessions import Sessions
from rain.core.server.state import GovernorState, TaskNode


class Scheduling(Sessions):
    """Ready tasks wait in one queue per (CPUs, task type): a pass serves the big tasks first,
    and stops a queue at its first task no governor can take now."""

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
        ready = TaskState.ready
        if not any_refilling(governors):  # a finish under load: every queue is still full enough
            return
        for key in sorted(self.ready, key=lambda k: -k[0]):  # big tasks first, while big holes exist
            queue = self.ready[key]
            task_type = key[1]
            queue_ahead = queue_depth(self.durations.get(task_type))
            candidates = governors if queue_ahead == 0 else refilling(governors, queue_ahead)
            while queue:
                task = queue[0]
                session = task.session
                if task.state is not ready or not session.alive:
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
        session_id = task.session.id
        gov.running[task.full_id] = task
        rows = []
        report_data: list[int] | None = None
        has_room = self.held.has_room()  # kept outputs may be fetched: small ones come with the result
        for obj in task.outputs:  # a loop, not two comprehensions: this runs once per task
            rows.append(obj.row())
            if has_room and obj.keep:
                if report_data is None:
                    report_data = [obj.id]
                else:
                    report_data.append(obj.id)
        # (not the named tuple's Python-level `__new__`: this runs once per task)
        gov.link.assign(tuple.__new__(AssignedTask, (session_id, task.row, inputs, rows, report_data)))
