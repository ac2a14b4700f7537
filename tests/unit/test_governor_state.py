"""The governor's state machine (rain.core.governor.state), driven by hypothesis.

A simulated runner performs the machine's actions the way `TaskRunner` does: a started task
brings its inputs and says so, a granted one runs, any of them may end at any point (fail,
finish, or be cancelled), and stores its outputs before it ends. Server commands (assign,
delete, drop a session) and stored inputs arrive in any order in between. After every step
the machine's invariants hold (`validate()`), its CPU accounting matches the simulation
exactly, and nothing of a dropped session is stored; at the end every assigned task was
reported exactly once and every CPU is free.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rain.common.ids import ID
from rain.common.rows import FailedTask, FinishedTask, ReportedOutput
from rain.core.governor import state as s

SESSIONS = st.integers(1, 3)


class GovernorMachine(RuleBasedStateMachine):
    @initialize(cpus=st.integers(1, 4))
    def setup(self, cpus: int) -> None:
        self.state = s.GovernorState(cpus)
        self.next_id = 1
        self.cpus_of: dict[ID, int] = {}
        self.outputs_of: dict[ID, tuple[ID, ...]] = {}
        self.fetching: set[ID] = set()  # started, inputs not reported yet
        self.waiting: set[ID] = set()  # inputs reported, no CPUs yet
        self.running: set[ID] = set()  # granted (or run inline)
        self.cancelled: set[ID] = set()
        self.dropped: set[int] = set()
        self.stored: set[ID] = set()
        self.reports: Counter[ID] = Counter()
        self.finished: set[ID] = set()

    # --- performing actions, as the runner does ---------------------------------------------

    def feed(self, event: s.Event) -> None:
        for action in self.state.handle(event):
            self.perform(action)
        self.state.validate()

    def perform(self, action: s.Action) -> None:
        if isinstance(action, s.StartTask):
            assert action.task_id not in self.cancelled
            (self.waiting if action.queued else self.fetching).add(action.task_id)
        elif isinstance(action, s.RunInline):
            assert action.task_id not in self.cancelled
            assert not self.waiting - self.cancelled  # it does not overtake tasks waiting for CPUs
            self.running.add(action.task_id)
        elif isinstance(action, s.GrantCpus):
            assert action.task_id in self.waiting and action.task_id not in self.cancelled
            self.waiting.remove(action.task_id)
            self.running.add(action.task_id)
        elif isinstance(action, s.CancelTask):
            assert action.task_id not in self.cancelled  # cancelled once
            self.cancelled.add(action.task_id)
        elif isinstance(action, s.DeleteObjects):
            self.stored.difference_update(action.ids)
        elif isinstance(action, FinishedTask | FailedTask):
            row = action
            tid = ID(row.session_id, row.task_id)
            self.reports[tid] += 1
            if isinstance(row, FinishedTask):
                assert tid.session_id not in self.dropped and tid not in self.cancelled
                assert {ID(tid.session_id, o.object_id) for o in row.outputs} <= self.stored
                self.finished.add(tid)
            else:
                assert isinstance(row, FailedTask) and row.info.get("error")
        else:
            raise AssertionError(f"unknown action {action!r}")

    def store(self, oid: ID) -> None:
        self.stored.add(oid)
        self.feed(s.ObjectStored(oid))

    # --- server commands ----------------------------------------------------------------------

    @rule(session=SESSIONS, cpus=st.integers(0, 5), n_outputs=st.integers(0, 2), inline=st.booleans(),
          inputs_here=st.booleans())
    def assign(self, session: int, cpus: int, n_outputs: int, inline: bool, inputs_here: bool) -> None:
        tid = ID(session, self.next_id)
        outputs = tuple(ID(session, self.next_id + 1 + i) for i in range(n_outputs))
        self.next_id += 1 + n_outputs
        self.cpus_of[tid] = cpus
        self.outputs_of[tid] = outputs
        self.feed(s.TaskAssigned(tid, cpus, outputs, inline=inline, inputs_here=inputs_here))

    @rule(session=SESSIONS)
    def drop_session(self, session: int) -> None:
        self.dropped.add(session)
        self.feed(s.SessionDropped(session))

    @precondition(lambda self: self.stored)
    @rule(data=st.data())
    def delete_objects(self, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(sorted(self.stored)), min_size=1, unique=True))
        self.feed(s.ObjectsDeleted(tuple(ids)))

    @rule(session=SESSIONS)
    def input_arrives(self, session: int) -> None:
        """A transfer or an inline constant stored an input (maybe for a dropped session)."""
        self.store(ID(session, 10_000 + self.next_id))
        self.next_id += 1

    # --- tasks --------------------------------------------------------------------------------

    @precondition(lambda self: self.fetching)
    @rule(data=st.data())
    def inputs_ready(self, data: st.DataObject) -> None:
        tid = data.draw(st.sampled_from(sorted(self.fetching)))
        self.fetching.remove(tid)
        if tid not in self.cancelled:  # the runner checks for cancellation before asking
            self.waiting.add(tid)
        self.feed(s.InputsReady(tid))
        if tid in self.cancelled:
            self.waiting.discard(tid)
            self.end(tid, None)

    @precondition(lambda self: self.running)
    @rule(data=st.data(), succeed=st.booleans(), partial=st.booleans())
    def run_ends(self, data: st.DataObject, succeed: bool, partial: bool) -> None:
        """A running task returns (even a cancelled one may: a thread cannot be stopped) or fails
        after storing some of its outputs."""
        tid = data.draw(st.sampled_from(sorted(self.running)))
        outputs = self.outputs_of[tid]
        self.stored.update(outputs if succeed else outputs[:1] if partial else ())  # stored by the task
        self.running.remove(tid)
        self.end(tid, [ReportedOutput(o.id, {"size": 1}) for o in outputs] if succeed else None)

    @precondition(lambda self: self.fetching)
    @rule(data=st.data())
    def fetch_fails(self, data: st.DataObject) -> None:
        tid = data.draw(st.sampled_from(sorted(self.fetching)))
        self.fetching.remove(tid)
        self.end(tid, None)

    @precondition(lambda self: self.waiting & self.cancelled)
    @rule(data=st.data())
    def cancelled_waiter_wakes(self, data: st.DataObject) -> None:
        self.cancelled_waiter_wakes_up(data.draw(st.sampled_from(sorted(self.waiting & self.cancelled))))

    def cancelled_waiter_wakes_up(self, tid: ID) -> None:
        self.waiting.remove(tid)
        self.end(tid, None)

    def end(self, tid: ID, outputs: list[ReportedOutput] | None) -> None:
        self.feed(s.TaskEnded(tid, {} if outputs is not None else {"error": "failed"}, outputs))

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def cpus_are_exact(self) -> None:
        held = sum(self.cpus_of[t] for t in self.running)
        assert self.state.free_cpus == self.state.cpus - held

    @invariant()
    def nothing_of_a_dropped_session_is_stored(self) -> None:
        assert not any(oid.session_id in self.dropped for oid in self.stored)
        assert self.stored == self.state.objects

    @invariant()
    def reported_at_most_once(self) -> None:
        assert all(n == 1 for n in self.reports.values())

    def teardown(self) -> None:
        """Everything still running ends; then every task is reported once and all CPUs free."""
        if not hasattr(self, "state"):
            return
        while self.fetching or self.waiting or self.running:
            if self.running:
                tid = min(self.running)
                self.running.remove(tid)
                self.end(tid, None)
            elif self.waiting & self.cancelled:
                self.cancelled_waiter_wakes_up(min(self.waiting & self.cancelled))
            else:
                assert not self.waiting, "tasks wait for CPUs while every CPU is free"
                tid = min(self.fetching)
                self.fetching.remove(tid)
                self.end(tid, None)
        assert set(self.reports) == set(self.cpus_of)
        assert all(n == 1 for n in self.reports.values())
        assert self.state.free_cpus == self.state.cpus and not self.state.tasks and not self.state.queue
        finished_outputs = {o for t in self.finished for o in self.outputs_of[t] if t.session_id not in self.dropped}
        assert {o for o in self.stored if o.id < 10_000} <= finished_outputs


GovernorMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_governor_state_machine = GovernorMachine.TestCase


def test_tasks_with_their_inputs_here_get_cpus_in_the_order_they_were_assigned() -> None:
    """The runner starts a trio task per assignment, and trio runs new tasks in no fixed order:
    a task assigned later must not take the CPUs of one assigned before it (a consumer that
    blocks for long would then hold back the producers it waits for)."""
    state = s.GovernorState(2)
    busy = [ID(1, 1), ID(1, 2)]
    producer, consumers = ID(1, 3), [ID(1, 4), ID(1, 5)]
    for tid in busy:
        state.handle(s.TaskAssigned(tid, 1, (), inputs_here=True))
    for tid in [producer, *consumers]:
        actions = state.handle(s.TaskAssigned(tid, 1, (), inputs_here=True))
        assert actions == [s.StartTask(tid, None, queued=True)]
    for tid in reversed([producer, *consumers]):  # their trio tasks run in reverse order
        assert state.handle(s.InputsReady(tid)) == []
    granted = [a.task_id for tid in busy for a in state.handle(s.TaskEnded(tid, {}, [])) if isinstance(a, s.GrantCpus)]
    assert granted == [producer, consumers[0]]
    state.validate()
