"""A single task's round trip: pipelined submits and unkeeps, small results answered by the server."""

from __future__ import annotations

import os
import signal

import pytest

from rain.client import RainException, Task, TaskException, blob, tasks
from rain.common.rows import SMALL_OUTPUT
from rain.core.server.held import ENTRY_COST
from tests.cluster import wait_until


def held(client):
    return client.get_server_info()["held_outputs"]


def test_a_small_result_comes_with_the_servers_answer(cluster, client):
    big_data = b"x" * SMALL_OUTPUT
    with client.new_session() as s:
        small = tasks.Concat([blob(b"a"), blob(b"b")])
        small.output.keep()
        big = tasks.Concat([blob(big_data), blob(b"y")])  # one byte over SMALL_OUTPUT
        big.output.keep()
        s.submit()
        s.wait_all()
        assert held(client) == {"objects": 1, "bytes": 2 + ENTRY_COST}
        governor = cluster.governor_processes[cluster.governor_ids[0]]
        os.kill(governor.pid, signal.SIGSTOP)
        try:
            assert small.output.fetch().get_bytes() == b"ab"  # the governor is frozen: the server answered
        finally:
            os.kill(governor.pid, signal.SIGCONT)
        assert client.governor_connections._idle == {}  # no connection to the governor's data port
        assert held(client) == {"objects": 0, "bytes": 0}  # held until its first fetch
        assert small.output.fetch().get_bytes() == b"ab"  # from the governor, which keeps it
        assert big.output.fetch().get_bytes() == big_data + b"y"
        assert held(client) == {"objects": 0, "bytes": 0}


def test_held_results_are_freed_by_unkeep_close_and_failure(client):
    s = client.new_session()
    with s.bind_only():
        outputs = [tasks.Concat([blob(b"a"), blob(str(i))]) for i in range(3)]
        for t in outputs:
            t.output.keep()
        tasks.Concat([blob(b"not kept")])
        s.submit()
    s.wait_all()
    assert held(client) == {"objects": 3, "bytes": 3 * (2 + ENTRY_COST)}
    outputs[0].output.unkeep()
    assert held(client) == {"objects": 2, "bytes": 2 * (2 + ENTRY_COST)}  # the unkeep went before this request
    s.close()
    assert held(client) == {"objects": 0, "bytes": 0}

    failing = client.new_session()
    with failing.bind_only():
        ok = tasks.Concat([blob(b"ok")])
        ok.output.keep()
        failing.submit()
        failing.wait_all()
        assert held(client)["objects"] == 1
        Task([blob(b"x"), blob(b"y")], 1, task_type="buildin/sleep", config=0, name="broken")
        failing.submit()
        with pytest.raises(TaskException, match="broken"):
            failing.wait_all()
    assert held(client) == {"objects": 0, "bytes": 0}
    failing.close()


def test_a_refused_submit_raises_at_the_next_call_and_is_taken_back(client):
    with client.new_session() as s:
        good = tasks.Concat([blob(b"a")])
        good.output.keep()
        s.submit()
        bad = Task([blob(b"x")], task_type="nobody/offers-this")
        s.submit()  # returns at once
        assert s.task_count == 0
        with pytest.raises(RainException, match=r"^submit\(\) at \S+test_round_trip.py:\d+ of 1 tasks and 2 objects "
                                                r"to session \d+ was refused: submit refused: .*nobody/offers-this"):
            good.output.fetch()
        assert s.task_count == 1 and bad.state is None  # unsubmitted again: it may be fixed and submitted
        assert good.output.fetch().get_bytes() == b"a"  # the answer of the interrupted fetch was not mixed up

        other = client.new_session()
        with other.bind_only():
            Task([blob(b"x")], task_type="nobody/offers-this")
        other.submit()
        assert good.output.fetch().get_bytes() == b"a"  # another session's refusal waits for that session
        with pytest.raises(RainException, match="nobody/offers-this"):
            other.wait_all()
        other.wait_all()  # raised once: the session goes on
        other.close()


def test_an_unkeep_refused_in_a_failed_session_sets_the_flag_back(client):
    with client.new_session() as s:
        kept = tasks.Concat([blob(b"a")])
        kept.output.keep()
        s.submit()
        s.wait_all()
        Task([blob(b"x"), blob(b"y")], 1, task_type="buildin/sleep", config=0, name="broken")
        s.submit()
        wait_for_failure(client, s.session_id)
        kept.output.unkeep()  # the session failed, which the client does not know yet
        with pytest.raises(TaskException, match="unkeep\\(\\) of 1 objects of session \\d+ was refused: .*broken"):
            s.update([kept])
        assert kept.output.is_kept()


def wait_for_failure(client, session_id: int) -> None:
    def failed() -> bool:
        return any(i["session_id"] == session_id and i["state"] == "failed"
                   for i in client.get_server_info()["sessions"])

    wait_until(failed, what=f"session {session_id} to fail")
