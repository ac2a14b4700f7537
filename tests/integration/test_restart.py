"""The server restarts without losing work: the journal, reconnecting governors and clients."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import pytest

from rain.client import Input, blob, tasks
from rain.common.errors import SessionException
from tests.cluster import Cluster, wait_until


def journaled(make_cluster, tmp_path, governors: list[int], *extra: str) -> tuple[Cluster, str]:
    journal = str(tmp_path / "server.journal")
    return make_cluster(governors, server_args=("--journal", journal, *extra)), journal


def kill_and_restart(cluster: Cluster, *extra: str, sig: int = signal.SIGKILL) -> None:
    """SIGKILL (or `sig`), then a new server on the same port (and, given in `extra`, the same journal)."""
    os.killpg(cluster.server_process.pid, sig)
    cluster.server_process.wait()
    cluster.start_server("--listen", f"127.0.0.1:{cluster.port}", *extra)


class ThreadWithResult(threading.Thread):
    """Runs a blocking client call in the background (the client is used by nothing else meanwhile)."""

    def __init__(self, call: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.call = call
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.call()
        except BaseException as exc:  # handed to the test's thread
            self.error = exc

    def result(self, timeout: float) -> None:
        self.join(timeout)
        assert not self.is_alive(), "the call did not return"
        if self.error is not None:
            raise self.error


def counted(runs: str, name: str, command: str) -> str:
    """A shell command that records each run of task `name` in the `runs` dir, then runs `command`."""
    return f"echo run >> {runs}/{name}; {command}"


def runs_of(runs: str, name: str) -> int:
    with open(os.path.join(runs, name)) as f:
        return len(f.readlines())


def test_kill_9_mid_graph_then_restart_on_the_journal(make_cluster, tmp_path):
    cluster, journal = journaled(make_cluster, tmp_path, [2, 2])
    runs, gate = tmp_path / "runs", tmp_path / "gate"
    runs.mkdir()
    client = cluster.client()
    session = client.new_session("campaign")
    with session.bind_only():
        first = [tasks.Execute(counted(runs, f"a{i}", f"echo a{i}"), shell=True, stdout="out") for i in range(6)]
        wait_gate = f"while [ ! -e {gate} ]; do sleep 0.01; done"
        second = [tasks.Execute(counted(runs, f"b{i}", f"{wait_gate}; cat in; echo b{i}"), shell=True, stdout="out",
                                input_paths=[Input("in", dataobj=a.output)]) for i, a in enumerate(first)]
        last = tasks.Concat([b.output for b in second])
        last.output.keep()
        for a in first:
            a.output.keep()
        session.submit()
    session.wait(first)
    wait_until(lambda: sum(os.path.exists(runs / f"b{i}") for i in range(6)) >= 4, what="second stage started")

    waiting = ThreadWithResult(session.wait_all)  # blocked in its wait when the server dies
    kill_and_restart(cluster, "--journal", journal)
    gate.touch()
    waiting.result(timeout=40)  # the wait went on: the client reconnected, the governors too

    expected = "".join(f"a{i}\nb{i}\n" for i in range(6)).encode()
    assert last.output.fetch().get_bytes() == expected
    assert [a.output.fetch().get_bytes() for a in first] == [f"a{i}\n".encode() for i in range(6)]
    assert [runs_of(runs, f"a{i}") for i in range(6)] == [1] * 6  # finished before the kill: never again
    started = [i for i in range(6) if runs_of(runs, f"b{i}")]
    assert all(runs_of(runs, f"b{i}") == 1 for i in started)  # running at the kill: kept running
    info = client.get_server_info()
    assert len(info["governors"]) == 2
    session.close()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "stopped"])
def test_restart_between_two_submits_of_one_session(make_cluster, tmp_path, sig):
    """A server stopped cleanly keeps its sessions in the journal as well as one killed."""
    cluster, journal = journaled(make_cluster, tmp_path, [1])
    client = cluster.client()
    session = client.new_session("two steps")
    with session.bind_only():
        step1 = tasks.Concat([blob(b"one "), blob(b"two")])
        step1.output.keep()
        session.submit()
    session.wait_all()
    kill_and_restart(cluster, "--journal", journal, sig=sig)
    with session.bind_only():
        step2 = tasks.Concat([step1.output, blob(b" three")])
        step2.output.keep()
        session.submit()
    assert step2.output.fetch().get_bytes() == b"one two three"
    assert step1.output.fetch().get_bytes() == b"one two"


def test_a_governor_lost_with_the_server_has_its_work_done_again(make_cluster, tmp_path):
    cluster, journal = journaled(make_cluster, tmp_path, [1], "--restore-grace", "2")
    doomed = cluster.start_governor(1)
    client = cluster.client()
    session = client.new_session("s")
    with session.bind_only():
        outs = [tasks.Execute(f"echo {i}", shell=True, stdout="out") for i in range(8)]
        for t in outs:
            t.output.keep()
        session.submit()
    session.wait_all()
    os.killpg(cluster.governor_processes.pop(doomed).pid, signal.SIGKILL)
    cluster.governor_ids.remove(doomed)
    kill_and_restart(cluster, "--journal", journal, "--restore-grace", "2")
    assert [t.output.fetch().get_bytes() for t in outs] == [f"{i}\n".encode() for i in range(8)]


def test_without_a_journal_the_client_is_told_its_session_was_lost(make_cluster):
    cluster = make_cluster([1])
    client = cluster.client()
    session = client.new_session("ephemeral")
    with session.bind_only():
        tasks.Concat([blob(b"x")])
        session.submit()
    session.wait_all()
    kill_and_restart(cluster)
    with pytest.raises(SessionException, match=r"session 1 \('ephemeral'\) was lost: the server restarted"):
        session.wait_all()
    wait_until(lambda: len(client.get_server_info()["governors"]) == 1, what="the governor back after its reset")
    fresh = client.new_session("after")  # the governor dropped the old incarnation's work, and serves the new one
    with fresh.bind_only():
        t = tasks.Concat([blob(b"y")])
        t.output.keep()
        fresh.submit()
    assert t.output.fetch().get_bytes() == b"y"
