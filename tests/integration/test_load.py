"""Failure and cancellation stay correct under load."""

from __future__ import annotations

import pytest

from rain.client import Task, TaskException, blob, tasks
from tests.cluster import wait_until


def session_tasks_on_governors(client, session_id: int) -> int:
    return sum(1 for g in client.get_server_info()["governors"] for t in g["tasks"] if t.session_id == session_id)


@pytest.mark.timeout(120)
def test_failure_in_big_session_stops_it_and_spares_others(make_cluster):
    cluster = make_cluster([2])
    client = cluster.client()
    other = client.new_session("bystander")
    with other.bind_only():
        survivor = tasks.Sleep(blob(b"still here"), 1.0)
        survivor.output.keep()
        other.submit()
    big = client.new_session("big")
    with big.bind_only():
        Task([blob(b"x"), blob(b"y")], 1, task_type="buildin/sleep", config=0.2, name="bad apple")
        src = blob(b"z")
        for _ in range(100_000):
            tasks.Concat([src, src])
        big.submit()
    with pytest.raises(TaskException, match="bad apple"):
        big.wait_all()
    wait_until(lambda: not session_tasks_on_governors(client, big.session_id),
               what="the failed session's tasks to leave the governors")
    info = {s["session_id"]: s for s in client.get_server_info()["sessions"]}
    assert info[big.session_id]["error"]
    assert info[big.session_id]["unfinished_tasks"] > 50_000  # the rest never ran
    assert survivor.output.fetch().get_bytes() == b"still here"
    big.close()
    other.close()
