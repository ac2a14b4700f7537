"""Replaying a run of journaled task finishes at once, for a restarted server.

A restarted server replays every finish of the journal, a million for a million-task session.
One `Server.finish_task` call per task does the readiness and garbage-collection work of each
finish separately; here a run of finishes of one session is applied in three passes over the
run: mark the tasks and their outputs finished, then release the consumers whose inputs are all
there, then release the objects no task needs any more. The state reached is the one the
finishes applied one by one reach (same finished tasks, ready tasks and kept objects; the unit
tests compare both on random graphs); only the order of the ready queues may differ, which
scheduling does not depend on beyond fairness.

Replayed finishes have no governor: the holders are the governors that come back (restore.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rain.common.rows import OUTPUT_INFO
from rain.common.states import DataObjectState, TaskState

if TYPE_CHECKING:
    from rain.core.server.server import Server
    from rain.core.server.state import SessionState, TaskNode

FINISHED = DataObjectState.finished


def finish_replayed(server: Server, session: SessionState, task_ids: list[Any], outputs: list[Any]) -> list[str]:
    """Finishes the tasks `task_ids` of `session`, with `outputs[i]` (a size or ReportedOutput
    rows, see `journal.compact_outputs`) for `task_ids[i]`. Returns a problem for each entry
    skipped (an unknown task, outputs that do not match); tasks already finished are left as
    they are, as `restore` does one by one."""
    if not isinstance(task_ids, list) or not isinstance(outputs, list) or len(task_ids) != len(outputs):
        raise ValueError("malformed run of finished tasks")
    done, problems = _mark_finished(session, task_ids, outputs)
    session.unfinished_tasks -= len(done)
    _release_consumers(server, done)
    _release_inputs(server, done)
    if session.unfinished_tasks == 0 and session.all_waiters:
        for waiter in session.all_waiters:
            server._answer(session, waiter, None)
        session.all_waiters.clear()
    return problems


def _mark_finished(session: SessionState, task_ids: list[Any], outputs: list[Any]) -> tuple[list[TaskNode], list[str]]:
    tasks = session.tasks
    done: list[TaskNode] = []
    problems: list[str] = []
    finished = TaskState.finished
    for task_id, reported in zip(task_ids, outputs, strict=True):
        task = tasks.get(task_id) if type(task_id) is int else None
        if task is None:
            problems.append(f"task {task_id!r} is not in session {session.id}")
            continue
        if task.state is finished:
            continue
        objects = task.outputs
        if type(reported) is int and len(objects) == 1:
            obj = objects[0]
            obj.size = reported
            obj.extra_info = None
            obj.state = FINISHED
        elif _outputs_match(reported, len(objects)):
            for obj, output in zip(objects, reported, strict=True):
                obj.set_info(output[OUTPUT_INFO])
                obj.state = FINISHED
        else:
            problems.append(f"outputs {reported!r:.100} do not match task {task.describe()}")
            continue
        task.state = finished
        done.append(task)
    return done, problems


def _outputs_match(reported: Any, count: int) -> bool:
    return (isinstance(reported, list) and len(reported) == count
            and all(isinstance(o, list | tuple) and len(o) == 2 and isinstance(o[OUTPUT_INFO], dict)
                    for o in reported))


def _release_consumers(server: Server, done: list[TaskNode]) -> None:
    """Consumers whose inputs are all finished become ready; waiters on outputs are answered."""
    make_ready = server._make_ready
    not_assigned = TaskState.not_assigned
    for task in done:
        if task.waiters:
            server._notify(task)
        for obj in task.outputs:
            if obj.waiters:
                server._notify(obj)
            consumers, obj.consumers = obj.consumers, None
            if consumers is None:
                continue
            for consumer in consumers:
                consumer.unfinished_inputs -= 1
                if consumer.unfinished_inputs == 0 and consumer.state is not_assigned:
                    make_ready(consumer)


def _release_inputs(server: Server, done: list[TaskNode]) -> None:
    """Objects that no task needs any more are released once all the counts are final."""
    release = server._maybe_release
    for task in done:
        for obj in task.inputs:
            obj.pending_consumers -= 1
            if obj.pending_consumers == 0:
                release(obj)
        task.inputs = []
        for obj in task.outputs:
            if obj.pending_consumers == 0 and not obj.keep:
                release(obj)
