"""The server's journal: torn tails, replay through the live handlers, and recovery of what
no governor holds after a restart (simulated governors, no I/O)."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rain.common.ids import ID
from rain.common.rows import AssignedTask, ObjectRow, SubmittedObject, TaskRow
from rain.common.states import DataObjectState, TaskState
from rain.core.protocol import messages as m
from rain.core.server.journal import HEADER_SIZE, Journal, JournalError, read_journal
from rain.core.server.restore import end_restore, restore
from rain.core.server.server import Server
from rain.core.server.state import GovernorState, SessionState
from tests.unit.test_server_state import RecordingClient, SimulatedGovernor, finished, random_graph


class ListJournal:
    """What `Server` needs from a journal, kept in a list (written at once)."""

    def __init__(self) -> None:
        self.items: list[list[Any]] = []

    def append(self, item: list[Any]) -> None:
        self.items.append(item)

    def after_write(self, callback: Callable[[], None]) -> None:
        callback()


async def write_batches(path: str, batches: list[list[list[Any]]]) -> list[int]:
    """Writes each batch as one record; the file size after each."""
    journal = Journal(path)
    journal.open()
    sizes = [os.path.getsize(path)]
    for batch in batches:
        for item in batch:
            journal.append(item)
        await journal.flush()
        sizes.append(os.path.getsize(path))
    journal.close()
    return sizes


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32))
async def test_a_journal_cut_at_a_random_byte_restores_every_record_before_the_cut(seed: int, tmp_path_factory) -> None:
    rng = random.Random(seed)
    tmp = tmp_path_factory.mktemp("j")
    path = str(tmp / "journal")
    task = [1, "t", None, [], [2], 1, None, None]
    batches = [[["session", s, f"s{s}", False],
                ["submit", s, [task], [[2, "o", None, "blob", None, True, b"x" * rng.randint(0, 300), None]]]]
               for s in range(1, rng.randint(2, 8))]
    sizes = await write_batches(path, batches)
    cut = rng.randint(0, sizes[-1])
    with open(path, "r+b") as f:
        f.truncate(cut)
    whole = sum(1 for size in sizes[1:] if size <= cut)
    if cut < HEADER_SIZE:
        incarnation, items, _ = read_journal(path)
        assert incarnation == "" and items == []
    else:
        _, items, valid = read_journal(path)
        assert items == [item for batch in batches[:whole] for item in batch]
        assert valid == sizes[whole]
    journal = Journal(path)  # opening restores what is left and goes on after it
    journal.open()
    assert [item[1] for item in journal.restored] == [s for s in range(1, whole + 1) for _ in (0, 1)]
    server = restarted(journal.restored)  # and the server state of everything before the cut
    assert sorted(server.sessions) == list(range(1, whole + 1))
    assert all(len(session.tasks) == 1 and session.objects[2].keep for session in server.sessions.values())
    journal.append(["close", 1])
    await journal.flush()
    journal.close()
    assert read_journal(path)[1][-1] == ["close", 1]


async def test_a_corrupt_record_ends_the_replay_with_a_warning(tmp_path, caplog) -> None:
    path = str(tmp_path / "journal")
    sizes = await write_batches(path, [[["session", 1, "a", False]], [["session", 2, "b", False]],
                                       [["session", 3, "c", True]]])
    with open(path, "r+b") as f:  # flip one byte inside the second record
        f.seek(sizes[1] + 10)
        byte = f.read(1)
        f.seek(sizes[1] + 10)
        f.write(bytes([byte[0] ^ 0xFF]))
    _, items, valid = read_journal(path)
    assert items == [["session", 1, "a", False]] and valid == sizes[1]
    assert "ignoring" in caplog.text and "cut short or corrupt" in caplog.text
    with open(str(tmp_path / "other"), "wb") as f:
        f.write(b"something else entirely")
    with pytest.raises(JournalError, match="is not a rain journal"):
        read_journal(str(tmp_path / "other"))


async def test_a_journal_serves_one_server_at_a_time(tmp_path) -> None:
    path = str(tmp_path / "journal")
    first = Journal(path)
    first.open()
    with pytest.raises(JournalError, match="in use by another server"):
        Journal(path).open()
    first.close()


async def test_closed_sessions_are_pruned(tmp_path, monkeypatch) -> None:
    import rain.core.server.journal as journal_module

    monkeypatch.setattr(journal_module, "COMPACT_MIN", 1000)
    path = str(tmp_path / "journal")
    journal = Journal(path)
    journal.open()
    for sid in range(1, 30):
        journal.append(["session", sid, "s", False])
        journal.append(["submit", sid, [], [[1, "o", None, "blob", None, True, b"x" * 200, None]]])
        if sid != 7:
            journal.append(["close", sid])
        await journal.flush()
    journal.close()
    _, items, _ = read_journal(path)
    assert {item[1] for item in items if item[0] == "submit"} <= {7, *range(20, 30)}
    server = restarted(items)
    assert set(server.sessions) == {7} and server._next_session_id == 30  # ids are never used twice
    assert os.path.getsize(path) < 29 * 250


# --- replay through the server --------------------------------------------------------------


def take_running(sims: list[SimulatedGovernor],
                 rng: random.Random) -> tuple[SimulatedGovernor, AssignedTask] | None:
    """Starts what the simulated governors can start, then takes one running task at random
    (its governor and its assignment), or None when nothing runs."""
    for sim in sims:
        sim.start_queued()
    busy = [sim for sim in sims if sim.running]
    if not busy:
        return None
    sim = rng.choice(busy)
    return sim, sim.running.pop(rng.randrange(len(sim.running)))


def run_some(server: Server, sims: list[SimulatedGovernor], rng: random.Random, steps: int) -> list[ID]:
    """Runs up to `steps` tasks on the simulated governors; the ids of those finished."""
    done = []
    for _ in range(steps):
        if (taken := take_running(sims, rng)) is None:
            break
        sim, assigned = taken
        for out in assigned.outputs:
            sim.objects.add(ID(assigned.session_id, ObjectRow(*out).id))
        report = finished(assigned, {"duration": 1.0})
        server.tasks_updated(server.governors[sim.id], [report], [])
        done.append(ID(report.session_id, report.task_id))
    return done


def journaled_server(cpus: list[int], keep_alive: bool = False) -> tuple[Server, list[SimulatedGovernor], SessionState]:
    """A server journaling into a list, a simulated governor of type t/x per entry of `cpus`
    (g0:1, g1:1, ...) and one session, "s"."""
    server = Server(delete_timeout=0)
    server.journal = ListJournal()
    sims = [SimulatedGovernor(f"g{i}:1", n) for i, n in enumerate(cpus)]
    for sim in sims:
        server.add_governor(GovernorState(sim.id, sim.cpus, frozenset({"t/x"}), sim))
    client = RecordingClient()
    return server, sims, server.session(client, server.new_session(client, "s", keep_alive=keep_alive))


def restarted(items: list[list[Any]]) -> Server:
    server = Server(delete_timeout=0)
    restore(server, items)
    return server


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), n_tasks=st.integers(1, 30))
def test_a_restarted_server_finishes_the_graph_and_reruns_only_what_is_lost(seed: int, n_tasks: int) -> None:
    rng = random.Random(seed)
    server, sims, session = journaled_server([2, 2], keep_alive=True)
    closed = server.new_session(session.client, "closed")
    tasks, objects, kept = random_graph(rng, n_tasks, 2)
    server.submit(session, tasks, objects)
    server.close_session(server.sessions[closed])
    done_before = run_some(server, sims, rng, rng.randint(0, n_tasks))

    # the server dies; g1 dies with it, g0 comes back with what it holds
    server2 = restarted(server.journal.items)
    assert set(server2.sessions) == {session.id} and server2.restoring == {"g0:1", "g1:1"}
    session2 = server2.sessions[session.id]
    assert {t.id for t in session2.tasks.values() if t.state is TaskState.finished} == {i.id for i in done_before}
    server2.journal = ListJournal()
    back = SimulatedGovernor("g0:1", 2)
    back.objects = {o for o in sims[0].objects if session.objects[o.id].state is DataObjectState.finished}
    held_before = {o.id for o in back.objects}
    server2.add_governor(GovernorState(back.id, 2, frozenset({"t/x"}), back),
                         [[o.session_id, o.id, {"size": 1}] for o in back.objects], [])
    assert server2.restoring == {"g1:1"} and not back.queue  # nothing scheduled while restoring
    end_restore(server2)
    rerun = run_some(server2, [back], rng, 10 * n_tasks + 10)
    assert all(t.state is TaskState.finished for t in session2.tasks.values())
    assert session2.unfinished_tasks == 0
    for tid in rerun:  # a task runs again only if it never finished or an output it made is gone
        outputs = session2.tasks[tid.id].outputs
        assert tid not in done_before or not any(o.id in held_before for o in outputs)
    assert {oid for oid in kept if session2.objects[oid].holders} == kept


def test_a_submit_is_journaled_as_its_frame_and_restored_from_it() -> None:
    rows = [list(TaskRow(2, "t/x", None, [1, None], [3], 1, None, None))]
    objects = [list(SubmittedObject(1, "c", None, "blob", None, False, b"xyz", None)),
               list(SubmittedObject(3, "o", None, "blob", None, True, None, None))]
    frame = cbor2.dumps(m.Submit(7, 1, rows, objects).to_wire())
    server, _sims, session = journaled_server([])
    server.submit(session, rows, objects, frame)
    assert server.journal.items[-1] == ["submit_frame", 1, frame]
    restored = restarted(server.journal.items).sessions[1]
    assert restored.tasks[2].row == rows[0] and restored.objects[1].data == b"xyz" and restored.objects[3].keep
    broken = restarted([["session", 1, "a", False], ["submit_frame", 1, b"\xff"],
                        ["submit_frame", 1, cbor2.dumps(m.Ok(1).to_wire())]])
    assert not broken.sessions[1].tasks


def test_restore_skips_an_item_it_cannot_apply(caplog) -> None:
    server = restarted([["session", 1, "a", False], ["finished", 9, 1, []], ["submit", 1, "bad", []],
                        ["session", 2, "b", True]])
    assert set(server.sessions) == {1, 2} and server.sessions[2].keep_alive
    assert caplog.text.count("skipped") == 2


def test_a_lost_output_is_computed_again_from_the_journaled_constant() -> None:
    journal = [["session", 1, "a", False],
               ["submit", 1, [list(TaskRow(2, "t/x", None, [1, None], [3], 1, None, None))],
                [list(SubmittedObject(1, "c", None, "blob", None, False, b"xyz", None)),
                 list(SubmittedObject(3, "o", None, "blob", None, True, None, None))]],
               ["finished", 1, 2, [[3, {"size": 1}]]]]
    server = restarted(journal)
    # task 2 finished, which freed its constant input; its kept output is on no governor
    end_restore(server)
    session = server.sessions[1]
    assert session.error is None and session.tasks[2].state is TaskState.ready and session.unfinished_tasks == 1
    sim = SimulatedGovernor("g0:1", 1)
    server.add_governor(GovernorState(sim.id, 1, frozenset({"t/x"}), sim))
    [assigned] = sim.queue
    assert assigned.inputs[0][3] == b"xyz"  # the constant's data, sent with the assignment


def test_copy_is_a_valid_journal(tmp_path) -> None:
    """Copying a live journal file gives a journal another server can restore."""
    path = str(tmp_path / "journal")
    import trio

    trio.run(write_batches, path, [[["session", 1, "a", True]]])
    shutil.copy(path, str(tmp_path / "copy"))
    assert read_journal(str(tmp_path / "copy"))[1] == [["session", 1, "a", True]]


def test_rain_start_keeps_its_journal_in_its_work_dir(tmp_path) -> None:
    from rain.cli import build_parser
    from rain.cli.start import journal_path

    def path(*argv: str) -> str | None:
        return journal_path(build_parser().parse_args(["start", "--simple", *argv]))

    assert path("--workdir", str(tmp_path)) == str(tmp_path / "server.journal")
    assert path("--journal", str(tmp_path / "j")) == str(tmp_path / "j")
    assert path("--listen", "7300").endswith("/.rain/journal-7300")
    assert path("--listen", "0") is None and path("--workdir", str(tmp_path), "--no-journal") is None


async def test_a_failed_write_leaves_no_torn_record_and_is_retried(tmp_path, monkeypatch, caplog) -> None:
    import errno

    import rain.core.server.journal as journal_module

    path = str(tmp_path / "journal")
    journal = Journal(path)
    journal.open()
    journal.append(["session", 1, "a", False])
    await journal.flush()
    real_fsync = os.fsync

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_module.os, "fsync", full_disk)
    acknowledged = []
    journal.append(["session", 2, "b", False])
    journal.after_write(lambda: acknowledged.append(True))
    await journal.flush()  # the server goes on
    assert acknowledged == [True] and "write failed" in caplog.text
    monkeypatch.setattr(journal_module.os, "fsync", real_fsync)
    journal.append(["session", 3, "c", False])
    await journal.flush()
    journal.close()
    assert [item[1] for item in read_journal(path)[1]] == [1, 2, 3]
    assert "ignoring" not in caplog.text


def test_a_returning_governor_keeps_what_is_needed_and_deletes_the_rest() -> None:
    journal = [["governor", 0, "g0:1"], ["session", 1, "a", False],
               ["submit", 1, [list(TaskRow(2, "t/x", None, [], [3], 1, None, None)),
                              list(TaskRow(4, "t/x", None, [], [5], 1, None, None)),
                              list(TaskRow(6, "t/x", None, [3, None], [7], 1, None, None))],
                [list(SubmittedObject(oid, str(oid), None, "blob", None, oid == 7, None, None)) for oid in (3, 5, 7)]],
               ["finished", 1, 2, [[3, {"size": 1}]]], ["finished", 1, 4, [[5, {"size": 1}]]]]
    server = restarted(journal)
    sim = SimulatedGovernor("g0:1", 2)
    deleted: list[ID] = []
    sim.delete = deleted.append  # type: ignore[method-assign]
    dropped: list[int] = []
    sim.drop_session = dropped.append  # type: ignore[method-assign]
    # it holds 3 (still needed by task 6), 5 (needed by nobody), an object of a closed session,
    # and the output of task 6, which finished while the server was down (its report lost)
    inventory = [[1, 3, {"size": 1}], [1, 5, {"size": 1}], [9, 1, {"size": 1}], [1, 7, {"size": 4}]]
    server.add_governor(GovernorState(sim.id, 2, frozenset({"t/x"}), sim), inventory, [[9, 2]])
    session = server.sessions[1]
    assert server.restoring is None  # every governor the journal knew is back
    assert session.objects[3].holders == [] and ID(1, 3) in deleted  # task 6 no longer needs it
    assert ID(1, 5) in deleted and ID(9, 1) in deleted and dropped == [9]
    assert session.tasks[6].state is TaskState.finished and session.objects[7].holders == ["g0:1"]
    assert session.objects[7].size == 4 and session.unfinished_tasks == 0 and not sim.queue
