"""Recovery: work lost with a governor runs again elsewhere, lost objects are recomputed.

Two entry points, both synchronous like the rest of the server's state:

- `forget_governor(server, gov, reason)`: the governor is gone (connection closed, heartbeats
  missed). Its tasks go back to waiting, each taking a strike; its copies are forgotten; every
  object left without a copy that is still needed is recomputed (`recover_objects`).
- `recover_objects(server, objects, requeued)`: objects that should exist but have no copy
  any more are produced again by re-running their producers, transitively (lineage: each
  object knows its producer, each task row its inputs), and `requeued` tasks wait again for
  their inputs. Whatever finds objects missing (a lost governor, a restarted server) calls it.

Constants never need recomputing: the server keeps its copy of their data for the life of
the session (see docs/architecture.md). A re-run recomputes all of a producer's outputs; the
ones that still have a copy keep it, the new copy just joins the holders.

After a recovery the waiting counts of the touched sessions are recounted from scratch
(`_recount_waiting`): it is a pass over the session's graph, cheap next to losing a governor,
and it leaves no doubt that every waiting task waits for exactly its unfinished inputs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rain.common.rows import TASK_INPUTS
from rain.common.states import DataObjectState, TaskState
from rain.core.server.state import Attempts, GovernorState, ObjectNode, SessionState, TaskNode

if TYPE_CHECKING:
    from rain.core.server.server import Server

logger = logging.getLogger(__name__)

FINISHED = DataObjectState.finished
WAITING = (TaskState.not_assigned, TaskState.ready)


def forget_governor(server: Server, gov: GovernorState, reason: str) -> None:
    """Everything the server knew of `gov` is dropped; its work is recovered (see the module doc)."""
    started = time.perf_counter()
    tasks = list(gov.running.values())
    gov.running.clear()
    gov.free_cpus = gov.cpus
    lost: list[ObjectNode] = []
    for oid in gov.objects:
        session = server.sessions.get(oid.session_id)
        obj = session.objects.get(oid.id) if session is not None else None
        if obj is not None and gov.id in obj.holders:
            obj.holders.remove(gov.id)
            if not obj.available:
                lost.append(obj)
    gov.objects.clear()
    gov.to_delete.clear()
    suspects, gov.suspected_by = gov.suspected_by, []
    requeued = [task for task in tasks if strike(server, task, gov.id, f"governor {gov.id} was lost ({reason})")]
    requeued += [task for task in dict.fromkeys(suspects)
                 if task.state is TaskState.not_assigned and task.session.alive]
    recover_objects(server, lost, requeued)
    elapsed = time.perf_counter() - started
    server.record_event("GovernorLost", governor=gov.id, reason=reason, tasks=len(tasks), objects=len(lost),
                        recovery_seconds=round(elapsed, 6))
    logger.warning("governor %s lost (%s): %d tasks to run again, %d objects without a copy (%.1f ms)",
                   gov.id, reason, len(tasks), len(lost), elapsed * 1e3)


def strike(server: Server, task: TaskNode, governor_id: str, reason: str) -> bool:
    """`task` was on a governor (or in an executor) that died: one strike. Returns whether it may
    run again; at `server.max_governor_losses` strikes it fails its session instead, as the
    task itself may be what killed them."""
    task.governor = None
    if not task.session.alive or task.state not in (TaskState.assigned, TaskState.not_assigned):
        return False
    attempts = task.attempts = task.attempts or Attempts()
    attempts.lost_on.append(governor_id)
    if len(attempts.lost_on) >= server.max_governor_losses:
        task.state = TaskState.failed
        places = ", ".join(attempts.lost_on)
        server.fail_session(task.session, f"task {task.describe()} lost its governor or executor "
                                          f"{len(attempts.lost_on)} times (on governors {places}; last: {reason}); "
                                          "it may have killed them", task)
        task.set_info({"error": reason})
        return False
    attempts.errors.append(reason)
    task.state = TaskState.not_assigned
    server.record_event("TaskRetried", session=task.session.id, task=task.id, name=task.name,
                        governor=governor_id, attempt=attempts.count, reason=reason)
    return True


def recover_objects(server: Server, objects: Iterable[ObjectNode], requeued: Iterable[TaskNode] = ()) -> None:
    """Recomputes each needed object of `objects` that has no copy left, then makes `requeued`
    tasks (in state not_assigned, their inputs still linked) and every other waiting task of
    the touched sessions wait for exactly their unfinished inputs."""
    sessions: dict[int, SessionState] = {}
    for obj in objects:
        if obj.session.alive and obj.needed and not obj.available and _reproduce(server, obj):
            sessions[obj.session.id] = obj.session
    for session in sessions.values():
        if session.alive:
            _recount_waiting(server, session)
    for task in requeued:  # in a session where nothing was recomputed, only the task has to wait
        if task.session.alive and task.session.id not in sessions and task.state is TaskState.not_assigned:
            _wait_for_inputs(server, task)
    server.schedule()


def _reproduce(server: Server, lost: ObjectNode) -> bool:
    """Re-runs the producer of `lost` and, first, of each of its inputs that is gone too.
    Returns whether any producer was reset (else each was going to run anyway, and the
    graph's waiting counts are still right)."""
    reset = False
    stack = [lost]
    while stack:
        obj = stack.pop()
        producer = obj.producer
        if producer is None:  # a constant whose data is gone: only a closed session drops it
            server.fail_session(obj.session, f"object {obj.full_id} was lost and has no producer to recompute it")
            return False
        if producer.state is not TaskState.finished:  # it will run (or is running) anyway
            if obj.state is not DataObjectState.unfinished:  # tasks counted it as there: recount
                reset = True
                _revive(server, obj)
            continue
        session = producer.session
        reset = True
        producer.state = TaskState.not_assigned
        producer.governor = None
        session.unfinished_tasks += 1
        producer.inputs = [session.objects[i] for i in producer.row[TASK_INPUTS][::2]]
        for out in producer.outputs:
            if not out.available:
                _revive(server, out)
        for inp in producer.inputs:
            inp.pending_consumers += 1
            if inp.data is not None:  # a constant released earlier: the server's copy serves again
                inp.state = FINISHED
            elif not inp.available:
                stack.append(inp)
        server.record_event("ObjectRecomputed", session=session.id, object=obj.id, task=producer.id,
                            name=producer.name, task_type=producer.task_type)
    return reset


def _revive(server: Server, obj: ObjectNode) -> None:
    """`obj` will be produced again. A released copy still waiting for its deletion somewhere
    is deleted now: the command then reaches that governor before anything that could store
    the object there again, so no old deletion can remove a new copy."""
    if obj.state is DataObjectState.removed:
        full_id = obj.full_id
        for gov in server.governors.values():
            if gov.to_delete.pop(full_id, None) is not None:
                gov.objects.discard(full_id)
                gov.link.delete(full_id)
    obj.state = DataObjectState.unfinished


def _wait_for_inputs(server: Server, task: TaskNode) -> None:
    """A task taken back from a governor waits for its inputs that are not finished. It may
    already be linked to them (a recount saw it waiting while it was suspected, see
    `GovernorState.suspected_by`): it is unlinked first, then linked once per input."""
    for inp in task.inputs:
        if inp.consumers and task in inp.consumers:
            inp.consumers = [c for c in inp.consumers if c is not task]
    if _link_to_unfinished_inputs(task) == 0:
        server._make_ready(task)


def _link_to_unfinished_inputs(task: TaskNode) -> int:
    """Adds `task` to the consumers of each of its unfinished inputs; returns (and keeps in
    `task.unfinished_inputs`) how many there are."""
    missing = 0
    for inp in task.inputs:
        if inp.state is not FINISHED:
            missing += 1
            if inp.consumers is None:
                inp.consumers = [task]
            else:
                inp.consumers.append(task)
    task.unfinished_inputs = missing
    return missing


def _recount_waiting(server: Server, session: SessionState) -> None:
    """Every waiting task of `session` waits for exactly its inputs that are not finished, and
    every unfinished object lists exactly the waiting tasks it will release."""
    for obj in session.objects.values():
        if obj.state is not FINISHED:
            obj.consumers = None
    for task in session.tasks.values():
        if task.state not in WAITING:
            continue
        if _link_to_unfinished_inputs(task) == 0:
            if task.state is not TaskState.ready:
                server._make_ready(task)
        elif task.state is TaskState.ready:
            task.state = TaskState.not_assigned  # its stale entry in the ready queue is skipped
