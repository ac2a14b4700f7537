"""The server's state machine on random graphs, with simulated governors and no I/O.

Links record what the server would send; a simulated governor runs assigned tasks only while
its CPUs allow (as the real runner does) and reports results in random order. Invariants are
checked after every event: CPUs are never overbooked, no task starts before its inputs exist,
every task finishes, and in the end nothing that is not kept remains on any governor.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rain.common.ids import ID
from rain.common.rows import (
    AssignedTask,
    FailedTask,
    FinishedTask,
    ObjectRow,
    ReportedOutput,
    SentInput,
    SubmittedObject,
    TaskRow,
)
from rain.common.states import DataObjectState, TaskState
from rain.core.protocol import messages as m
from rain.core.server.server import EARLY_PART, Server
from rain.core.server.state import GovernorState


class RecordingClient:
    def __init__(self) -> None:
        self.sent: list[m.Message] = []

    def send(self, msg: m.Message) -> None:
        self.sent.append(msg)


class SimulatedGovernor:
    """A governor link (rain.core.server.links.GovernorSink) that runs what it is assigned."""

    def __init__(self, gid: str, cpus: int) -> None:
        self.id = gid
        self.cpus = cpus
        self.queue: list[AssignedTask] = []
        self.running: list[AssignedTask] = []
        self.objects: set[ID] = set()
        self.max_used = 0

    def assign(self, task: AssignedTask) -> None:
        self.queue.append(task)

    def delete(self, object_id: ID) -> None:
        self.objects.discard(object_id)

    def drop_session(self, session_id: int) -> None:
        self.objects = {o for o in self.objects if o.session_id != session_id}

    def used(self) -> int:
        return sum(TaskRow(*a.task).resources for a in self.running)

    def start_queued(self) -> None:
        while self.queue and TaskRow(*self.queue[0].task).resources <= self.cpus - self.used():
            self.running.append(self.queue.pop(0))
        self.max_used = max(self.max_used, self.used())


def finished(assigned: AssignedTask, info: dict[str, Any]) -> FinishedTask:
    outputs = [ReportedOutput(ObjectRow(*out).id, {"size": 1}) for out in assigned.outputs]
    return FinishedTask(assigned.session_id, TaskRow(*assigned.task).id, info, outputs)


def random_graph(rng: random.Random, n_tasks: int, max_cpus: int) -> tuple[list[Any], list[Any], set[int]]:
    """Rows for one submit: constants, then tasks reading earlier objects."""
    objects: list[Any] = []
    tasks: list[Any] = []
    available: list[int] = []
    next_id = 1
    for _ in range(rng.randint(1, 4)):
        objects.append(list(SubmittedObject(next_id, "c", None, "blob", None, False, b"x", None)))
        available.append(next_id)
        next_id += 1
    kept = set()
    for _ in range(n_tasks):
        inputs: list[Any] = []
        for oid in rng.sample(available, k=min(len(available), rng.randint(0, 3))):
            inputs += (oid, None)
        tid, out = next_id, next_id + 1
        next_id += 2
        keep = rng.random() < 0.2
        if keep:
            kept.add(out)
        objects.append(list(SubmittedObject(out, "0", None, "blob", None, keep, None, None)))
        tasks.append(list(TaskRow(tid, "t/x", None, inputs, [out], rng.randint(1, max_cpus), None, None)))
        available.append(out)
    return tasks, objects, kept


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), n_tasks=st.integers(1, 40), cpus=st.lists(st.integers(1, 4), min_size=1, max_size=4))
def test_random_graphs_finish_without_overbooking(seed: int, n_tasks: int, cpus: list[int]) -> None:
    rng = random.Random(seed)
    server = Server(delete_timeout=0)
    governors = [SimulatedGovernor(f"g{i}:1", c) for i, c in enumerate(cpus)]
    for sim in governors:
        server.add_governor(GovernorState(sim.id, sim.cpus, frozenset({"t/x"}), sim))
    client = RecordingClient()
    session = server.session(client, server.new_session(client, "s"))
    tasks, objects, kept = random_graph(rng, n_tasks, max(cpus))
    server.submit(session, tasks, objects)
    run_to_the_end(server, session, client, governors, rng, kept)


def run_to_the_end(server: Server, session: Any, client: RecordingClient, governors: list[SimulatedGovernor],
                   rng: random.Random, kept: set[int]) -> None:
    """Runs every task of the session on the simulated governors, checking the invariants."""
    server.wait(session, client, 99, [], True)
    for _ in range(10 * len(session.tasks) + 10):
        for sim in governors:
            sim.start_queued()
            assert sim.used() <= sim.cpus
        busy = [sim for sim in governors if sim.running]
        if not busy:
            break
        sim = rng.choice(busy)
        assigned = sim.running.pop(rng.randrange(len(sim.running)))
        sid = assigned.session_id
        for inp in assigned.inputs:  # inputs exist when the task runs; those sent as bare ids are here
            oid = inp if isinstance(inp, int) else ObjectRow(*SentInput(*inp).object).id
            assert session.objects[oid].state is DataObjectState.finished
            if isinstance(inp, int):
                assert ID(sid, oid) in sim.objects
            sim.objects.add(ID(sid, oid))
        for out in assigned.outputs:
            sim.objects.add(ID(sid, ObjectRow(*out).id))
        server.tasks_updated(server.governors[sim.id], [finished(assigned, {"duration": 1.0})], [])
        for gov in server.governors.values():
            assert gov.free_cpus >= -gov.queue_capacity
    assert all(t.state is TaskState.finished for t in session.tasks.values())
    assert any(isinstance(msg, m.Ok) and msg.request_id == 99 for msg in client.sent)
    assert all(gov.free_cpus == gov.cpus for gov in server.governors.values())
    remaining = {o.id for sim in governors for o in sim.objects}
    assert remaining <= kept
    assert {oid for oid in kept if session.objects[oid].holders} == kept


@pytest.mark.parametrize("order", ["as made", "objects reversed"])
def test_a_large_submit_assigns_its_first_tasks_before_the_rest_is_built(order: str) -> None:
    """With `send_early`, the first tasks of a large submit go out before the rest is built,
    when the objects they name come first (as a client lists them); the graph then runs as
    any other."""
    rng = random.Random(3)
    server = Server(delete_timeout=0)
    governors = [SimulatedGovernor("g0:1", 2), SimulatedGovernor("g1:1", 1)]
    for sim in governors:
        server.add_governor(GovernorState(sim.id, sim.cpus, frozenset({"t/x"}), sim))
    client = RecordingClient()
    session = server.session(client, server.new_session(client, "s"))
    tasks, objects, kept = random_graph(rng, 3 * EARLY_PART, 2)
    if order == "objects reversed":
        objects.reverse()
    seen: list[tuple[int, int]] = []

    def send_early() -> None:
        seen.append((len(session.tasks), sum(len(sim.queue) for sim in governors)))

    server.submit(session, tasks, objects, send_early=send_early)
    if order == "objects reversed":
        assert seen == []  # the first tasks' objects are the last: nothing to send early
    else:
        assert len(seen) == 1 and seen[0][0] == EARLY_PART and seen[0][1] > 0  # built, and some assigned
    assert len(session.tasks) == len(tasks) and session.unfinished_tasks == len(tasks)
    run_to_the_end(server, session, client, governors, rng, kept)


def test_closed_session_graph_is_freed_without_the_cycle_collector() -> None:
    """The server runs with a raised GC threshold; a closed graph must not wait for a full
    collection (one with finished, running and waiting tasks)."""
    import gc
    import weakref

    server = Server(delete_timeout=0)
    sim = SimulatedGovernor("g0:1", 1)
    server.add_governor(GovernorState(sim.id, 1, frozenset({"t/x"}), sim))
    client = RecordingClient()
    session = server.session(client, server.new_session(client, "s"))
    tasks, objects, _kept = random_graph(random.Random(7), 30, 1)
    server.submit(session, tasks, objects)
    server.wait(session, client, 1, [], True)
    server.tasks_updated(server.governors[sim.id], [finished(sim.queue.pop(0), {})], [])
    refs = [weakref.ref(node) for node in [*session.tasks.values(), *session.objects.values()]]
    gc.disable()
    try:
        server.close_session(session)
        # the governor answers the drop by reporting its running task cancelled
        cancelled = [FailedTask(a.session_id, TaskRow(*a.task).id, {"error": "cancelled"}) for a in sim.queue]
        sim.queue.clear()
        server.tasks_updated(server.governors[sim.id], [], cancelled)
        del session
        assert [r() for r in refs if r() is not None] == []
    finally:
        gc.enable()


@pytest.mark.parametrize("change", ["one missing", "one extra", "wrong id"])
def test_a_governor_reporting_wrong_outputs_fails_the_session(change: str) -> None:
    """A buggy or stale governor must not leave waiters hanging on objects it never reported."""
    server = Server(delete_timeout=0)
    sim = SimulatedGovernor("g0:1", 1)
    gov = GovernorState(sim.id, 1, frozenset({"t/x"}), sim)
    server.add_governor(gov)
    client = RecordingClient()
    session = server.session(client, server.new_session(client, "s"))
    objects = [list(SubmittedObject(oid, str(oid), None, "blob", None, True, None, None)) for oid in (2, 3)]
    server.submit(session, [list(TaskRow(1, "t/x", None, [], [2, 3], 1, "pair", None))], objects)
    server.fetch(session, client, 7, ID(session.id, 3))
    report = finished(sim.queue.pop(), {})
    outputs = {"one missing": report.outputs[:1],
               "one extra": [*report.outputs, ReportedOutput(4, {"size": 1})],
               "wrong id": [report.outputs[0], ReportedOutput(4, {"size": 1})]}[change]
    server.tasks_updated(gov, [report._replace(outputs=outputs)], [])
    [answer] = [msg for msg in client.sent if getattr(msg, "request_id", None) == 7]
    assert isinstance(answer, m.Error) and answer.category == m.ErrorCategory.TASK
    assert "governor g0:1 reported outputs [2" in answer.message and "of task 'pair' ID(1, 1)" in answer.message
    assert session.error == answer.message
    assert gov.free_cpus == 1 and session.objects[3].state is not DataObjectState.finished


def test_an_unneeded_object_is_deleted_once_its_delete_timeout_has_passed() -> None:
    now = [100.0]
    server = Server(delete_timeout=1.0, clock=lambda: now[0])
    sim = SimulatedGovernor("g0:1", 1)
    gov = GovernorState(sim.id, 1, frozenset({"t/x"}), sim)
    server.add_governor(gov)
    client = RecordingClient()
    session = server.session(client, server.new_session(client, "s"))
    server.submit(session, [list(TaskRow(1, "t/x", None, [], [2], 1, None, None))],
                  [list(SubmittedObject(2, "out", None, "blob", None, True, None, None))])
    assigned = sim.queue.pop()
    sim.objects.add(ID(session.id, 2))
    server.tasks_updated(gov, [finished(assigned, {})], [])
    server.unkeep(session, [ID(session.id, 2)])
    assert ID(session.id, 2) in gov.to_delete
    now[0] = 100.999
    server.run_deletions()
    assert sim.objects == {ID(session.id, 2)}  # kept until the timeout has passed
    now[0] = 101.0
    server.run_deletions()
    assert sim.objects == set() and gov.to_delete == {}


@pytest.mark.parametrize(("duration", "assigned"),
                         [(0.001, 2 + 2 * 64), (0.02, 2 + 2 * 16), (0.1, 2 + 2 * 3), (1.0, 2)])
def test_tasks_queue_ahead_on_a_governor_by_how_long_their_type_runs(duration: float, assigned: int) -> None:
    """Up to 0.32 s of a type's average duration per CPU waits in the governor's queue: all
    the way (64 per CPU) for tasks of a millisecond, none for tasks of a second."""
    _server, sim = submit_after_one_run(duration, 200)
    assert len(sim.queue) == assigned


def submit_after_one_run(duration: float, n: int) -> tuple[Server, SimulatedGovernor]:
    """A 2-CPU governor that has run one task of type t/x for `duration`, then `n` more submitted."""
    server = Server(delete_timeout=0)
    sim = SimulatedGovernor("g:1", 2)
    server.add_governor(GovernorState(sim.id, sim.cpus, frozenset({"t/x"}), sim))
    client = RecordingClient()
    session = server.session(client, server.new_session(client, "s"))
    server.submit(session, [list(TaskRow(1, "t/x", None, [], [2], 1, None, None))],
                  [list(SubmittedObject(2, "0", None, "blob", None, False, None, None))])
    server.tasks_updated(server.governors[sim.id], [finished(sim.queue.pop(), {"duration": duration})], [])
    tasks = [list(TaskRow(10 + 2 * i, "t/x", None, [], [11 + 2 * i], 1, None, None)) for i in range(n)]
    objects = [list(SubmittedObject(11 + 2 * i, "0", None, "blob", None, False, None, None)) for i in range(n)]
    server.submit(session, tasks, objects)
    return server, sim


def test_a_full_local_queue_is_refilled_in_one_go_once_half_of_it_is_worked_off() -> None:
    """Finishes under load do not top the governor's queue up one task at a time: it gets
    nothing while more than half of its queue is left, then all it may hold at once."""
    server, sim = submit_after_one_run(0.001, 1000)
    gov = server.governors[sim.id]
    full = 2 + 2 * 64  # both CPUs busy, 64 tasks per CPU queued
    assert len(sim.queue) == full
    sim.start_queued()
    sizes = []
    for _ in range(3 * full):
        server.tasks_updated(gov, [finished(sim.running.pop(0), {"duration": 0.001})], [])
        sim.start_queued()
        sizes.append(len(sim.queue) + len(sim.running))
        assert len(gov.running) == len(sim.queue) + len(sim.running)
        assert len(gov.running) >= 2 + 64  # never below half of the queue: no CPU waits for work
    refills = [after for before, after in itertools.pairwise(sizes) if after > before]
    assert refills and all(after == full for after in refills)  # each refill fills the queue up
    assert len(refills) <= 3 * full // 64 + 1  # one refill per half queue worked off, not one per task
