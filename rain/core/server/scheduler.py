"""Placement policy: pure functions over governor and object state.

Policy (see SPEC section 7): a ready task runs only where its CPUs are free and its task type is
offered. Among those governors it goes where the most bytes of its inputs already are, so a big
object is never moved for a small one; when no candidate holds any input, the tightest fit
(fewest free CPUs that still suffice) takes it, keeping big holes for big tasks. We never hold a
task back for a busy governor that has its data: an idle CPU elsewhere is worth more than a
transfer on this machine class.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from rain.core.server.state import QUEUE_AHEAD_PER_CPU, GovernorState, TaskNode

# The work one CPU's local queue may hold ahead, in seconds of a task type's average duration:
# 64 tasks of 5 ms. Short tasks fill it with QUEUE_AHEAD_PER_CPU of them; a type whose tasks
# take longer queues fewer, so no governor holds more than this much work that an idle one
# elsewhere could have taken, and a type slower than the budget does not queue ahead at all.
QUEUE_AHEAD_SECONDS = 0.32


def queue_depth(average_duration: float | None) -> int:
    """Tasks per CPU of a type that may wait in a governor's local queue (0: none).

    A graded depth, not a short/long switch: the duration a governor measures includes its
    own overhead, so on a loaded machine trivial tasks (a Python call in an executor) hover
    around any fixed threshold, and each time they crossed it every task waited for a round
    trip through the server again."""
    if average_duration is None:
        return 0  # unknown type: the first tasks show how long it runs
    if average_duration <= 0:
        return QUEUE_AHEAD_PER_CPU
    return min(QUEUE_AHEAD_PER_CPU, int(QUEUE_AHEAD_SECONDS / average_duration))


def refilling(governors: Iterable[GovernorState], depth: int) -> list[GovernorState]:
    """The governors that may take tasks now, with a queue `depth` (see `queue_depth`): every
    one with a free CPU, and those whose local queue is down to half of what it may hold.

    A governor whose queue is fuller than that is not topped up after each task it finishes:
    it is refilled in one go once it has worked half of its queue off. Its queue never runs
    dry (half of it is still there when the refill goes out), and the refill is one message
    of many tasks where a top-up per report was one message of one or two, each a wake-up
    and a write on both sides."""
    return [g for g in governors if _may_take(g, depth)]


def any_refilling(governors: Iterable[GovernorState]) -> bool:
    """Whether any governor may take a task now, whatever its type's queue depth (asked at
    every finish: it stops at the first one, and builds no list)."""
    return any(_may_take(g, QUEUE_AHEAD_PER_CPU) for g in governors)


def _may_take(gov: GovernorState, depth: int) -> bool:
    return gov.free_cpus > 0 or -2 * gov.free_cpus <= min(gov.queue_capacity, depth * gov.cpus)


def local_bytes(task: TaskNode) -> dict[str, int]:
    """Bytes of the task's inputs per governor that holds them (real or test-mode holders)."""
    score: dict[str, int] = {}
    for obj in task.inputs:
        size = obj.size or 1
        for gid in obj.holders:
            score[gid] = score.get(gid, 0) + size
        for gid in obj.test_holders or ():
            if gid not in obj.holders:
                score[gid] = score.get(gid, 0) + size
    return score


def _room(gov: GovernorState, depth: int) -> int:
    """The CPUs a governor can take tasks for now: its free ones, plus its local queue's room."""
    return gov.free_cpus + min(gov.queue_capacity, depth * gov.cpus)


def place(task: TaskNode, governors: Collection[GovernorState], depth: int = 0) -> GovernorState | None:
    """The governor the task should run on now, or None when none can take it now.

    With a queue `depth` (tasks per CPU, see `queue_depth`), a governor whose CPUs are all busy
    may still take the task into its local queue, up to `depth` tasks per CPU and never beyond
    its `queue_capacity`: the task then starts the moment a CPU frees there, without waiting
    for a round trip through the server.
    """
    cpus = task.cpus
    task_type = task.task_type
    if len(governors) == 1:  # what the rest says of one governor, without building lists
        (gov,) = governors
        if task_type not in gov.task_types:
            return None
        if gov.free_cpus >= cpus:
            return gov
        if depth > 0 and cpus <= gov.cpus and _room(gov, depth) >= cpus:
            return gov
        return None
    candidates = [g for g in governors if g.free_cpus >= cpus and task_type in g.task_types]
    if not candidates and depth > 0:
        candidates = [g for g in governors if _room(g, depth) >= cpus and task_type in g.task_types and cpus <= g.cpus]
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            score = local_bytes(task) if task.inputs else {}
            return max(candidates, key=lambda g: (_room(g, depth), score.get(g.id, 0)))
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    if task.inputs:
        score = local_bytes(task)
        if score:
            best = max(candidates, key=lambda g: (score.get(g.id, 0), -g.free_cpus))
            if score.get(best.id, 0) > 0:
                return best
    return min(candidates, key=lambda g: g.free_cpus)
