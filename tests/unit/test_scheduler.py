"""The placement policy's shortcut for one candidate governor decides as the general path does."""

from __future__ import annotations

import itertools

from rain.core.server.scheduler import place
from rain.core.server.state import GovernorState, SessionState, TaskNode


def governor(name: str, cpus: int, free: int, types: frozenset[str]) -> GovernorState:
    gov = GovernorState(name, cpus, types, link=None)  # type: ignore[arg-type]  # placement sends nothing
    gov.free_cpus = free
    return gov


def test_one_governor_is_placed_as_among_others_that_cannot_take_the_task() -> None:
    session = SessionState(1, "s", None)
    decided = set()
    for cpus, free, task_cpus, depth, offered in itertools.product(
            (1, 2, 4), range(-130, 5), (1, 2, 3, 5), (0, 1, 8, 64), (True, False)):
        task = TaskNode(session, [1, "t/a", None, [], [], task_cpus, None, None], "t/a", task_cpus, [], [])
        gov = governor("g1", cpus, free, frozenset({"t/a"} if offered else {"t/b"}))
        other = governor("g2", 64, 64, frozenset({"t/b"}))  # never a candidate: the general path runs
        alone = place(task, [gov], depth)
        assert alone is place(task, [gov, other], depth), (cpus, free, task_cpus, depth, offered)
        decided.add(alone is gov)
    assert decided == {True, False}
