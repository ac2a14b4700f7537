"""End-to-end basics: sessions, submit, concat, sleep, wait, fetch, errors."""

from __future__ import annotations

import os
import signal
import time

import pytest

from rain.client import RainException, Session, SessionException, Task, TaskException, blob, tasks
from rain.client.session import get_active_session
from rain.common import DataObjectState, TaskState
from tests.cluster import ran_at_once, ran_one_at_a_time, spans, wait_until


def test_hello_world(client):
    with client.new_session() as s:
        bl = blob("Hello rain!")
        tsk = tasks.sleep(0.01, bl)
        tsk.output.keep()
        s.submit()
        result = tsk.output.fetch()
        assert result.get_str() == "Hello rain!"
        assert result.content_type == "text"


def test_concat_chain(client):
    with client.new_session() as s:
        parts = [blob(f"part{i},") for i in range(10)]
        t = tasks.Concat(parts)
        t2 = tasks.Concat([t, blob(b"end")])
        t2.output.keep()
        assert s.task_count == 2
        assert s.dataobj_count == 13
        s.submit()
        assert s.task_count == 0 and s.dataobj_count == 0
        assert t2.output.fetch().get_bytes() == b"".join(f"part{i},".encode() for i in range(10)) + b"end"


def test_concat_empty(client):
    with client.new_session() as s:
        t = tasks.Concat([])
        t.output.keep()
        s.submit()
        assert t.output.fetch().get_bytes() == b""


def test_active_session_stack(client):
    s1 = client.new_session()
    s2 = client.new_session()
    with pytest.raises(RainException):
        get_active_session()
    with s1:
        assert get_active_session() is s1
        with s2.bind_only():
            assert get_active_session() is s2
            assert blob(b"x").session is s2
        assert get_active_session() is s1
        assert not s2.closed
    assert s1.closed
    with pytest.raises(RainException), s1:
        pass


def test_default_session(client):
    s = client.new_session(default=True)
    assert get_active_session() is s
    with client.new_session() as other:
        assert get_active_session() is other
    assert get_active_session() is s


def test_offline_session_builds_graph_but_cannot_submit():
    s = Session(None, 1)
    with s.bind_only():
        t = tasks.Concat([blob(b"a"), blob(b"b")])
    assert t.id.session_id == 1
    assert s.task_count == 1
    with pytest.raises(RainException):
        s.submit()


def test_sleep_holds_for_its_time(client):
    with client.new_session() as s:
        t = tasks.Sleep(blob(b"x"), 0.3)
        s.submit()
        t.wait()
        assert t.state == TaskState.finished
        t.update()
        assert t.info.duration >= 0.3  # as the governor measured it


@pytest.mark.parametrize("cpus", [1, 2])
def test_cpu_limits(make_cluster, cpus):
    client = make_cluster([cpus]).client()
    with client.new_session() as s:
        ts = [tasks.Sleep(blob(b"x"), 1.0) for _ in range(2)]
        s.submit()
        s.wait(ts)
        assert ran_one_at_a_time(ts) if cpus == 1 else ran_at_once(ts)


def test_wait_all_empty_and_unsubmitted(client):
    with client.new_session() as s:
        s.wait_all()  # nothing to wait for: answered at once (a hang would time the test out)
        t = tasks.Concat([blob(b"a")])
        with pytest.raises(RainException):
            t.wait()
        with pytest.raises(RainException):
            t.output.fetch()


def test_fetch_not_kept(client):
    with client.new_session() as s:
        t = tasks.Concat([blob(b"a"), blob(b"b")])
        s.submit()
        with pytest.raises(RainException, match="not kept"):
            t.output.fetch()
        s.wait_all()
        assert t.state == TaskState.finished


def test_keep_after_submit_raises(client):
    with client.new_session() as s:
        b = blob(b"a")
        s.submit()
        with pytest.raises(RainException):
            b.keep()


def test_update_info(client):
    with client.new_session() as s:
        t = tasks.Sleep(blob(b"abc"), 0.01, name="napper")
        t.output.keep()
        s.submit()
        t.wait()
        t.update()
        t.output.update()
        assert t.state == TaskState.finished
        assert t.info.governor in [g["governor_id"] for g in client.get_server_info()["governors"]]
        assert t.info.duration >= 0.01
        assert t.output.state == DataObjectState.finished
        assert t.output.info.size == 3


def test_failing_task_fails_session(client):
    with client.new_session() as s:
        t = Task([blob(b"x"), blob(b"y")], 1, task_type="buildin/sleep", config=0, name="broken")
        t.output.keep()
        s.submit()
        for call in (t.wait, s.wait_all, t.output.fetch, t.update, lambda: s.unkeep([t.output])):
            with pytest.raises(TaskException) as info:
                call()
            assert "broken" in str(info.value)
            assert "exactly one input" in str(info.value)
            assert "test_core.py" in str(info.value)


def test_failure_cancels_running_tasks_of_session(make_cluster):
    cluster = make_cluster([2])
    client = cluster.client()
    s = client.new_session()
    with s.bind_only():
        slow = tasks.Sleep(blob(b"x"), 30)
        Task([blob(b"x"), blob(b"y")], 1, task_type="buildin/sleep", config=0)
        submitted = time.time()
        s.submit()
    with pytest.raises(TaskException):
        s.wait_all()
    with client.new_session() as other:
        t = tasks.Sleep(blob(b"x"), 0.1, cpus=2)  # needs the CPU the long sleep held
        other.submit()
        other.wait([t])
        [(started, _end)] = spans([t])
    assert started < submitted + 30  # long before the sleep would have ended: it was cancelled
    assert slow.state is not TaskState.finished
    s.close()


def test_multi_submit(client):
    with client.new_session() as s:
        a = blob(b"a")
        a.keep()
        t1 = tasks.Concat([a, blob(b"b")])
        t1.output.keep()
        s.submit()
        t2 = tasks.Concat([t1, a])
        t2.output.keep()
        s.submit()
        assert t2.output.fetch().get_bytes() == b"aba"
        assert a.fetch().get_bytes() == b"a"


def test_unkept_object_from_earlier_submit_is_refused(client):
    with client.new_session() as s:
        a = tasks.Concat([blob(b"a")]).output
        s.submit()
        with pytest.raises(RainException, match="from an earlier submit and was not kept"):
            tasks.Concat([a])  # refused at the call, not by the server


def test_big_blob_round_trip(client):
    data = bytes(range(256)) * (100 * 1024 * 1024 // 256)
    with client.new_session() as s:
        t = tasks.Concat([blob(data), blob(b"!")])
        t.output.keep()
        s.submit()
        result = t.output.fetch().get_bytes()
        assert len(result) == len(data) + 1
        assert result[:1000] == data[:1000] and result[-1:] == b"!"


def test_two_sessions_in_parallel(make_cluster):
    cluster = make_cluster([2])
    client = cluster.client()
    s1, s2 = client.new_session(), client.new_session()
    with s1.bind_only():
        t1 = tasks.Sleep(blob(b"one"), 1.0)
        t1.output.keep()
        s1.submit()
    with s2.bind_only():
        t2 = tasks.Sleep(blob(b"two"), 1.0)
        t2.output.keep()
        s2.submit()
    assert t1.output.fetch().get_bytes() == b"one"
    assert t2.output.fetch().get_bytes() == b"two"
    assert ran_at_once([t1, t2])
    s1.close()
    s2.close()


def test_server_info(make_cluster):
    cluster = make_cluster([1, 3])
    client = cluster.client()
    info = client.get_server_info()
    govs = sorted(info["governors"], key=lambda g: g["resources"]["cpus"])
    assert [g["resources"]["cpus"] for g in govs] == [1, 3]
    assert {g["governor_id"] for g in govs} == set(cluster.governor_ids)
    for g in govs:
        assert g["tasks"] == [] and g["objects"] == [] and g["objects_to_delete"] == []
    with client.new_session() as s:
        t = tasks.Sleep(blob(b"x"), 2)
        s.submit()
        wait_until(lambda: any(g["tasks"] for g in client.get_server_info()["governors"]), what="the sleep to run")
        running = [i for g in client.get_server_info()["governors"] for i in g["tasks"]]
        assert running == [t.id]


def test_closed_session_errors(client):
    s = client.new_session()
    with s:
        b = blob(b"x")
        b.keep()
        s.submit()
    with pytest.raises(SessionException):
        s.wait_all()
    with pytest.raises(RainException):
        b.fetch()


def test_connect_refused():
    with pytest.raises(RainException, match="cannot connect"):
        from rain.client import Client

        Client("127.0.0.1", 1)


def test_client_disconnect_closes_its_sessions(cluster):
    leaving = cluster.client()
    s = leaving.new_session()
    with s.bind_only():
        tasks.Sleep(blob(b"x"), 30)
        submitted = time.time()
        s.submit()
    staying = cluster.client()
    wait_until(lambda: any(g["tasks"] for g in staying.get_server_info()["governors"]), what="the sleep to run")
    leaving.close()  # no CloseSession: the connection just goes away
    with staying.new_session() as other:
        t = tasks.Sleep(blob(b"y"), 0.1)  # needs the only CPU, which the long sleep held
        t.output.keep()
        other.submit()
        assert t.output.fetch().get_bytes() == b"y"
        [(started, _end)] = spans([t])
    assert started < submitted + 30  # long before the sleep would have ended: it was cancelled


def test_governor_killed_mid_task_runs_it_elsewhere(make_cluster):
    cluster = make_cluster([1, 1])
    client = cluster.client()
    with client.new_session() as s:
        t = tasks.Sleep(blob(b"x"), 1)
        t.output.keep()
        s.submit()

        def busy_governor():
            busy = [g["governor_id"] for g in client.get_server_info()["governors"] if g["tasks"]]
            return busy[0] if busy else None

        wait_until(busy_governor, what="the sleep to start")
        victim = busy_governor()
        os.killpg(cluster.governor_processes[victim].pid, signal.SIGKILL)
        assert t.output.fetch().get_bytes() == b"x"
        t.update()
        assert t.info.governor != victim and t.info.attempts == 2
    assert victim not in [g["governor_id"] for g in client.get_server_info()["governors"]]
