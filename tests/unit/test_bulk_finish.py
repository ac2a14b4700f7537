"""Finishes replayed a run at a time (bulk_finish) reach the state that `Server.finish_task`
reaches one by one: compared on random graphs run by simulated governors."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rain.common.ids import ID
from rain.common.rows import FinishedTask, ObjectRow, ReportedOutput, TaskRow
from rain.common.states import TaskState
from rain.core.server.journal import Journal, read_journal
from rain.core.server.restore import _replay, restore
from rain.core.server.server import Server
from tests.unit.test_journal import journaled_server, take_running
from tests.unit.test_server_state import random_graph


def live_run(rng: random.Random, n_tasks: int) -> list[list[Any]]:
    """The journal items of a session run part way on two simulated governors, with unkeeps
    between finishes and outputs whose info is more than a size."""
    server, sims, session = journaled_server([2, 3])
    tasks, objects, kept = random_graph(rng, n_tasks, 2)
    server.submit(session, tasks, objects)
    for _ in range(rng.randint(0, n_tasks)):
        if (taken := take_running(sims, rng)) is None:
            break
        sim, assigned = taken
        outputs = [ReportedOutput(ObjectRow(*out).id, output_info(rng)) for out in assigned.outputs]
        report = FinishedTask(assigned.session_id, TaskRow(*assigned.task).id, {"duration": 1.0}, outputs)
        server.tasks_updated(server.governors[sim.id], [report], [])
        if kept and rng.random() < 0.1:
            server.unkeep(session, [ID(session.id, kept.pop())])
    return server.journal.items


def output_info(rng: random.Random) -> dict[str, Any]:
    size = rng.randint(0, 3)
    return rng.choice([{"size": size}, {"size": size, "content_type": "text"}, {"size": size, "user": {"k": 1}}])


def one_by_one(items: list[list[Any]]) -> Server:
    """The state reached by replaying each finish through `Server.finish_task`."""
    server = Server(delete_timeout=0)
    server.restoring = set()
    for item in items:
        if item[0] == "finished":
            task = server.sessions[item[1]].tasks[item[2]]
            if task.state is not TaskState.finished:
                server.finish_task(task, item[3], None)
        else:
            _replay(server, item, set(), 0)
    return server


def snapshot(server: Server) -> dict[str, Any]:
    [session] = server.sessions.values()
    ready = {t.id for queue in server.ready.values() for t in queue if t.state is TaskState.ready}
    return {
        "finished": {t.id for t in session.tasks.values() if t.state is TaskState.finished},
        "ready": ready,
        "ready states": {t.id for t in session.tasks.values() if t.state is TaskState.ready},
        "unfinished tasks": session.unfinished_tasks,
        "tasks": {t.id: (t.state, t.unfinished_inputs, [o.id for o in t.inputs]) for t in session.tasks.values()},
        "objects": {o.id: (o.state, o.size, o.extra_info, o.keep, o.pending_consumers, o.consumers is None)
                    for o in session.objects.values()},
    }


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), n_tasks=st.integers(1, 40))
async def test_bulk_replay_reaches_the_one_by_one_state(seed: int, n_tasks: int, tmp_path_factory) -> None:
    items = live_run(random.Random(seed), n_tasks)
    expected = snapshot(one_by_one(items))
    assert expected["ready"] == expected["ready states"]

    merged = Server(delete_timeout=0)  # single "finished" items, as older journals hold them
    restore(merged, items)
    assert snapshot(merged) == expected

    path = str(tmp_path_factory.mktemp("j") / "journal")  # runs merged by the journal as appended
    journal = Journal(path)
    journal.open()
    for item in items:
        journal.append(item)
    await journal.flush()
    journal.close()
    written = read_journal(path)[1]
    assert not any(item[0] == "finished" for item in written)
    assert sum(len(item[2]) for item in written if item[0] == "finished_tasks") == \
        sum(1 for item in items if item[0] == "finished")
    from_file = Server(delete_timeout=0)
    restore(from_file, written)
    assert snapshot(from_file) == expected


def test_a_bad_entry_in_a_run_is_skipped_and_the_rest_applied(caplog) -> None:
    rows = [list(TaskRow(tid, "t/x", None, [], [tid + 1], 1, None, None)) for tid in (2, 4, 6)]
    objects = [[oid, None, None, "blob", None, False, None, None] for oid in (3, 5, 7)]
    server = Server(delete_timeout=0)
    restore(server, [["session", 1, "a", False], ["submit", 1, rows, objects],
                     ["finished_tasks", 1, [2, 99, 4, 6], [1, 1, [[5, {"size": 2}], [8, {"size": 1}]], 3]]])
    session = server.sessions[1]
    assert {t.id for t in session.tasks.values() if t.state is TaskState.finished} == {2, 6}
    assert session.objects[7].size == 3 and session.unfinished_tasks == 1
    assert caplog.text.count("skipped") == 2 and "task 99 is not in session 1" in caplog.text
