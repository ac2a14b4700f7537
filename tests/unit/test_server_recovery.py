"""The server's recovery from lost governors, driven by hypothesis with no I/O.

Simulated governors compute real values (a hash of the task and its inputs), fetch inputs
from each other by the locations the server gives, and are lost, frozen out, or registered
(also again at a lost one's address) at random, with late reports from lost ones and
crashed executors in between. After every step: every needed object has a copy or a producer
that will run, no task is on two governors, the CPU accounting is exact. At the end, with a
governor left to finish the work, every kept object holds the value of a fault-free run.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rain.common.ids import ID
from rain.common.rows import (
    TASK_INPUTS,
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
from rain.core.server.server import Server
from rain.core.server.state import GovernorState
from tests.unit.test_server_state import RecordingClient, random_graph

WAITING = (TaskState.not_assigned, TaskState.ready)


def compute(task_id: int, inputs: list[bytes]) -> bytes:
    return hashlib.sha256(b"%d|" % task_id + b"|".join(inputs)).hexdigest()[:12].encode()


def fault_free(tasks: list[Any], objects: list[Any]) -> dict[int, bytes]:
    values = {row[0]: row[6] for row in objects if row[6] is not None}
    for row in tasks:  # in submit order: inputs are earlier objects
        values[row[4][0]] = compute(row[0], [values[i] for i in row[TASK_INPUTS][::2]])
    return values


@attrs.define(eq=False)
class Queued:
    assigned: AssignedTask
    epoch: int


class SimGovernor:
    """A governor link that computes what it runs; `network` maps data addresses to the live
    simulated governor at each."""

    def __init__(self, gid: str, cpus: int, network: dict[str, SimGovernor]) -> None:
        self.id = gid
        self.cpus = cpus
        self.network = network
        self.queue: list[Queued] = []
        self.running: list[Queued] = []
        self.values: dict[ID, bytes] = {}
        self.epoch = 0
        self.lost_peers: dict[str, int] = {}
        self.state: GovernorState | None = None

    def assign(self, task: AssignedTask) -> None:
        """Checks that each peer named for an input holds it, as the server says."""
        for item in task.inputs:
            sent = None if isinstance(item, int) else SentInput(*item)
            if sent is not None and sent.location is not None:
                oid = ID(task.session_id, ObjectRow(*sent.object).id)
                peer = self.network.get(sent.location)
                assert peer is not None and oid in peer.values, \
                    f"the server sent {self.id} to {sent.location} for {oid}"
        self.queue.append(Queued(task, self.epoch))

    @property
    def lost(self) -> bool:
        return self.network.get(self.id) is not self

    def delete(self, object_id: ID) -> None:
        self.values.pop(object_id, None)

    def drop_session(self, session_id: int) -> None:
        self.values = {k: v for k, v in self.values.items() if k.session_id != session_id}
        self.queue.clear()
        self.running.clear()

    def peer_lost(self, data_address: str) -> None:
        self.epoch += 1
        self.lost_peers[data_address] = self.epoch

    def start_queued(self) -> None:
        def used() -> int:
            return sum(TaskRow(*q.assigned.task).resources for q in self.running)

        while self.queue and TaskRow(*self.queue[0].assigned.task).resources <= self.cpus - used():
            self.running.append(self.queue.pop(0))

    def run(self, queued: Queued) -> FinishedTask | FailedTask:
        """Fetches the inputs and computes the output, or fails as a real governor would."""
        assigned = queued.assigned
        sid, row = assigned.session_id, TaskRow(*assigned.task)
        inputs: list[bytes] = []
        here: list[int] = []  # the inputs stored here so far, reported with a failure as a governor does
        for item in assigned.inputs:
            if isinstance(item, int):
                value = self.values.get(ID(sid, item))
                assert value is not None, f"the server said {ID(sid, item)} was on {self.id}"
                here.append(item)
            else:
                sent = SentInput(*item)
                oid = ID(sid, ObjectRow(*sent.object).id)
                value = sent.data
                if value is None:
                    assert sent.location is not None
                    peer = self.network.get(sent.location)
                    if peer is None or self.lost_peers.get(sent.location, -1) > queued.epoch:
                        return FailedTask(sid, row.id, {"error": "fetch failed", "input_unavailable": sent.location,
                                                    "inputs_here": here})
                    value = peer.values.get(oid)
                    if value is None and self.lost:  # no PeerLost reaches a lost governor: its fetch
                        # may meet a new governor at the address, or a copy released since
                        return FailedTask(sid, row.id, {"error": "not found", "input_unavailable": sent.location,
                                                    "inputs_here": here})
                    assert value is not None, f"the server sent {self.id} to {sent.location} for {oid}"
                self.values[oid] = value
                here.append(oid.id)
            inputs.append(value)
        [out] = [ObjectRow(*o).id for o in assigned.outputs]
        self.values[ID(sid, out)] = compute(row.id, inputs)
        return FinishedTask(sid, row.id, {"duration": 0.01}, [ReportedOutput(out, {"size": 12})])


class RecoveryMachine(RuleBasedStateMachine):
    @initialize(seed=st.integers(0, 2**32), n_tasks=st.integers(1, 30))
    def start(self, seed: int, n_tasks: int) -> None:
        self.rng = random.Random(seed)
        self.now = 0.0
        self.server = Server(delete_timeout=1.0, max_governor_losses=1000, clock=lambda: self.now)
        self.network: dict[str, SimGovernor] = {}
        self.lost: list[SimGovernor] = []
        self.next_address = 0
        self.client = RecordingClient()
        self.session = self.server.session(self.client, self.server.new_session(self.client, "s"))
        tasks, objects, self.kept = random_graph(self.rng, n_tasks, 2)
        self.expected = fault_free(tasks, objects)
        self.register(2)
        self.server.submit(self.session, tasks, objects)

    def register(self, cpus: int, address: str | None = None) -> None:
        if address is None:
            self.next_address += 1
            address = f"g{self.next_address}:1"
        sim = SimGovernor(address, cpus, self.network)
        sim.state = GovernorState(address, cpus, frozenset({"t/x"}), sim)
        self.network[address] = sim
        self.server.add_governor(sim.state)

    @rule(cpus=st.integers(1, 3))
    def add_governor(self, cpus: int) -> None:
        self.register(cpus)

    @precondition(lambda self: any(s.id not in self.network for s in self.lost))
    @rule(data=st.data())
    def comes_back(self, data: st.DataObject) -> None:
        """A governor declared lost registers again, as a new one at the same address."""
        sim = data.draw(st.sampled_from([s for s in self.lost if s.id not in self.network]))
        self.register(sim.cpus, sim.id)

    @precondition(lambda self: self.network)
    @rule(data=st.data(), silent=st.booleans())
    def lose_governor(self, data: st.DataObject, silent: bool) -> None:
        sim = data.draw(st.sampled_from(sorted(self.network)))
        lost = self.network.pop(sim)
        assert lost.state is not None
        self.server.remove_governor(lost.state, "no heartbeat" if silent else "its connection closed")
        self.lost.append(lost)

    @precondition(lambda self: self.lost)
    @rule(data=st.data())
    def late_report(self, data: st.DataObject) -> None:
        """Whatever a lost governor still sends is ignored."""
        sim = data.draw(st.sampled_from(self.lost))
        sim.start_queued()
        if sim.running:
            report = sim.run(sim.running.pop(0))
            assert sim.state is not None
            before = [(t.state, t.governor) for t in self.session.tasks.values()]
            if isinstance(report, FinishedTask):
                self.server.tasks_updated(sim.state, [report], [])
            else:
                self.server.tasks_updated(sim.state, [], [report])
            assert before == [(t.state, t.governor) for t in self.session.tasks.values()]

    @precondition(lambda self: self.network)
    @rule(data=st.data(), crash=st.booleans(), flaky=st.booleans())
    def step(self, data: st.DataObject, crash: bool, flaky: bool) -> None:
        sim = self.network[data.draw(st.sampled_from(sorted(self.network)))]
        sim.start_queued()
        if not sim.running:
            return
        queued = sim.running.pop(data.draw(st.integers(0, len(sim.running) - 1)))
        assert sim.state is not None
        if crash:
            row = TaskRow(*queued.assigned.task)
            failed = FailedTask(queued.assigned.session_id, row.id, {"error": "killed by SIGKILL", "crashed": True})
            self.server.tasks_updated(sim.state, [], [failed])
            return
        remote = [SentInput(*i).location for i in queued.assigned.inputs
                  if not isinstance(i, int) and SentInput(*i).location is not None]
        if flaky and remote:  # the fetch fails though its holder looks alive (a flaky network)
            row = TaskRow(*queued.assigned.task)
            failed = FailedTask(queued.assigned.session_id, row.id, {"error": "reset", "input_unavailable": remote[0]})
            self.server.tasks_updated(sim.state, [], [failed])
            return
        report = sim.run(queued)
        if isinstance(report, FinishedTask):
            self.server.tasks_updated(sim.state, [report], [])
        else:
            self.server.tasks_updated(sim.state, [], [report])

    @precondition(lambda self: self.network)
    @rule(data=st.data())
    def heartbeat(self, data: st.DataObject) -> None:
        sim = self.network[data.draw(st.sampled_from(sorted(self.network)))]
        assert sim.state is not None
        self.server.governor_alive(sim.state)

    @rule()
    def time_passes(self) -> None:
        """Deletions become due (an object may be re-created, e.g. recomputed, before its turn)."""
        self.now += 0.6
        self.server.run_deletions()

    @invariant()
    def needed_objects_have_a_copy_or_a_producer(self) -> None:
        if not self.session.alive:
            return
        for obj in self.session.objects.values():
            if obj.needed and not obj.available:
                producer = obj.producer
                assert producer is not None and producer.state in (*WAITING, TaskState.assigned), obj

    @invariant()
    def no_task_on_two_governors(self) -> None:
        on: dict[ID, str] = {}
        for gov in self.server.governors.values():
            for tid in gov.running:
                assert tid not in on, f"{tid} on {on.get(tid)} and {gov.id}"
                on[tid] = gov.id

    @invariant()
    def cpu_accounting_is_exact(self) -> None:
        for gov in self.server.governors.values():
            assert gov.free_cpus == gov.cpus - sum(t.cpus for t in gov.running.values())
            assert all(t.state is TaskState.assigned and t.governor is gov for t in gov.running.values())

    @invariant()
    def waiting_counts_are_exact(self) -> None:
        if not self.session.alive:
            return
        parked = {t.id for gov in self.server.governors.values() for t in gov.suspected_by}  # until a heartbeat
        for task in self.session.tasks.values():
            if task.state in WAITING and task.id not in parked:
                missing = sum(1 for i in task.inputs if i.state is not DataObjectState.finished)
                assert task.unfinished_inputs == missing
                assert (missing == 0) == (task.state is TaskState.ready)

    @invariant()
    def consumers_are_exactly_the_waiting_tasks(self) -> None:
        """An unfinished object releases each waiting task once per time it is an input."""
        if not self.session.alive:
            return
        expected: dict[int, Counter[int]] = {}
        for task in self.session.tasks.values():
            if task.state in WAITING:
                for inp in task.inputs:
                    if inp.state is not DataObjectState.finished:
                        expected.setdefault(inp.id, Counter())[task.id] += 1
        for obj in self.session.objects.values():
            if obj.state is not DataObjectState.finished:
                linked = Counter(t.id for t in obj.consumers or () if t.state in WAITING)
                assert linked == expected.get(obj.id, Counter()), obj.id

    def teardown(self) -> None:
        if not hasattr(self, "server"):
            return
        self.register(3)  # somewhere to finish the work
        self.now += 10
        self.server.run_deletions()
        for _ in range(20 * len(self.session.tasks) + 20):
            if self.session.unfinished_tasks == 0:
                break
            busy = False
            for sim in list(self.network.values()):
                assert sim.state is not None
                self.server.governor_alive(sim.state)
                sim.start_queued()
                while sim.running:
                    busy = True
                    report = sim.run(sim.running.pop(0))
                    finished = [report] if isinstance(report, FinishedTask) else []
                    self.server.tasks_updated(sim.state, finished, [] if finished else [report])
            assert busy or self.session.unfinished_tasks == 0, "work left but nothing runs"
        self.now += 10
        self.server.run_deletions()
        assert self.session.alive, self.session.error
        assert self.session.unfinished_tasks == 0
        for oid in self.kept:
            obj = self.session.objects[oid]
            assert obj.holders and all(self.network[g].values[obj.full_id] == self.expected[oid] for g in obj.holders)
        held = {oid.id for sim in self.network.values() for oid in sim.values}
        assert held <= self.kept | {o for o, v in self.session.objects.items() if v.data is not None}, \
            "objects leaked on the survivors"
        assert not any(isinstance(msg, m.Error) for msg in self.client.sent)


TestRecovery = RecoveryMachine.TestCase
TestRecovery.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


class SimCluster:
    """A server and simulated governors for a focused scenario, stepped by hand."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.network: dict[str, SimGovernor] = {}

    def register(self, gid: str, cpus: int) -> SimGovernor:
        sim = self.network[gid] = SimGovernor(gid, cpus, self.network)
        sim.state = GovernorState(gid, cpus, frozenset({"t/x"}), sim)
        self.server.add_governor(sim.state)
        return sim

    def run_one(self, sim: SimGovernor) -> FinishedTask | FailedTask:
        """Runs the first task `sim` can start and reports it."""
        assert sim.state is not None
        sim.start_queued()
        report = sim.run(sim.running.pop(0))
        finished = [report] if isinstance(report, FinishedTask) else []
        self.server.tasks_updated(sim.state, finished, [] if finished else [report])
        return report


def submit_a_then_b(server: Server) -> tuple[Any, list[Any], list[Any]]:
    """A session with A: c -> a (1 CPU), then B: a -> b, kept (2 CPUs: it fits only on a
    2-CPU governor, so `a` must travel to it); (session, task rows, object rows)."""
    client = RecordingClient()
    session = server.session(client, server.new_session(client, "s"))
    objects = [list(SubmittedObject(1, "c", None, "blob", None, False, b"c", None)),
               list(SubmittedObject(3, "a", None, "blob", None, False, None, None)),
               list(SubmittedObject(5, "b", None, "blob", None, True, None, None))]
    graph = [list(TaskRow(2, "t/x", None, [1, None], [3], 1, "A", None)),
             list(TaskRow(4, "t/x", None, [3, None], [5], 2, "B", None))]
    server.submit(session, graph, objects)
    return session, graph, objects


def test_a_recomputed_object_is_not_deleted_by_its_earlier_release() -> None:
    """`a` is released while its deletion on V waits for the delete timeout, then recomputed
    on V for a lost kept object: that pending deletion must not remove the new copy."""
    now = [0.0]
    server = Server(delete_timeout=1.0, clock=lambda: now[0])
    cluster = SimCluster(server)
    register, network = cluster.register, cluster.network

    def run_one(sim: SimGovernor) -> None:
        assert isinstance(cluster.run_one(sim), FinishedTask)

    v, g = register("v:1", 1), register("g:1", 2)
    session, graph, objects = submit_a_then_b(server)
    run_one(v)  # A on V (the tightest fit)
    run_one(g)  # B on G, which fetches `a`; `a` is released, deleted once the timeout is over
    assert g.state is not None and v.state is not None
    server.remove_governor(g.state)  # `b` is lost: B and then A run again, A on V
    network.pop(g.id)
    run_one(v)
    now[0] += 2
    server.run_deletions()
    g2 = register("g2:1", 2)
    run_one(g2)  # B fetches `a` from V
    assert session.unfinished_tasks == 0
    assert g2.values[ID(session.id, 5)] == fault_free(graph, objects)[5]


def test_a_failed_fetch_from_a_replaced_governor_waits_for_the_recomputed_input() -> None:
    """B on G was sent to fetch `a` from V; V is lost (so `a` is recomputed) and registers
    again at the same address before G reports the fetch failed. The new V never held `a`:
    B is not suspecting it, it waits for `a` (no strike) and runs once `a` is back."""
    server = Server(delete_timeout=1.0)
    cluster = SimCluster(server)
    register, run_one, network = cluster.register, cluster.run_one, cluster.network
    v, g = register("v:1", 1), register("g:1", 2)
    session, graph, objects = submit_a_then_b(server)
    run_one(v)  # A on V; B on G, sent to fetch `a` from V
    assert v.state is not None and g.state is not None
    server.remove_governor(v.state, "no heartbeat")  # `a` is lost: A runs again
    network.pop(v.id)
    v2 = register(v.id, 1)  # V back at its address, as a new governor: A runs there
    assert isinstance(run_one(g), FailedTask)  # the fetch from the lost V failed
    a, task_b = session.objects[3], session.tasks[4]
    assert task_b.state is TaskState.not_assigned and task_b.attempts is None
    assert a.consumers == [task_b] and task_b.unfinished_inputs == 1
    assert not any(gov.suspected_by for gov in server.governors.values())
    rerun_on = v2 if v2.queue else g  # A again: on the new V, or queued ahead on G when V was lost
    assert rerun_on.queue and TaskRow(*rerun_on.queue[0].assigned.task).name == "A"
    run_one(rerun_on)  # B runs at once, fetching `a` from where A ran
    assert task_b.state is TaskState.assigned
    run_one(g)
    assert session.unfinished_tasks == 0
    assert g.values[ID(session.id, 5)] == fault_free(graph, objects)[5]
