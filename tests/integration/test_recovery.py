"""Lost governors cost a retry, not the session: real governors killed (SIGKILL) or frozen
(SIGSTOP) in the middle of a graph; the results must equal those of a fault-free run.

Each graph waits at a gate (a program that ends once a file exists) after its first part, so
the kill lands mid-graph: the first part's results are spread over the governors, and the
second part needs them, so what the victim held must be recomputed from lineage.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from typing import Any

import pytest

from rain.cli.info import format_sessions
from rain.client import Program, RainException, TaskException, blob, remote, tasks
from tests.cluster import Cluster, wait_until

GATE = 'while [ ! -e "$0" ]; do sleep 0.02; done'


def gate(path: str) -> Any:
    """An empty object that exists once `path` does. It holds no CPU: tasks of the first half
    queued on its governor must not wait behind it."""
    return tasks.Execute(["sh", "-c", GATE, path], stdout=True, name="gate", cpus=0).output


def fft_pairs(layers: int, width: int) -> list[list[tuple[int, int]]]:
    out = []
    for layer in range(layers):
        step = 1 << (layer % max(1, width.bit_length() - 1))
        out.append([(i, i ^ step if (i ^ step) < width else i) for i in range(width)])
    return out


def governor_objects(client: Any) -> dict[str, int]:
    return {g["governor_id"]: len(g["objects"]) for g in client.get_server_info()["governors"]}


def governors(client: Any) -> list[str]:
    return [g["governor_id"] for g in client.get_server_info()["governors"]]


def events(cluster: Cluster, kind: str) -> list[dict[str, Any]]:
    """The server's logged events of one kind (the log is written about once a second)."""
    body = json.dumps({"event_types": [{"value": kind, "mode": "="}]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{cluster.http_port}/events", data=body,
                                     headers={"Authorization": f"Bearer {cluster.http_token()}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return [e["event"] for e in json.loads(r.read())]


def wait_for_events(cluster: Cluster, kind: str) -> list[dict[str, Any]]:
    wait_until(lambda: events(cluster, kind), what=f"a {kind} event")
    return events(cluster, kind)


def kill(cluster: Cluster, governor_id: str, sig: int = signal.SIGKILL) -> None:
    os.killpg(cluster.governor_processes[governor_id].pid, sig)


def kill_richest(cluster: Cluster, client: Any) -> str:
    """SIGKILLs the governor holding most objects and waits until the server has lost it."""
    victim = max(governor_objects(client).items(), key=lambda item: item[1])[0]
    kill(cluster, victim)
    wait_until(lambda: victim not in governors(client), what=f"governor {victim} to be lost")
    return victim


def gated_fft(release: str, layers: int, width: int) -> tuple[list[Any], list[Any], list[bytes]]:
    """A concat graph of layers x width tasks in the current session, its second half behind
    the gate `release`: (the first half's last layer, the kept last layer, its expected values)."""
    values = [b"%d." % i for i in range(width)]
    level = [blob(v) for v in values]
    first = level
    for n, pairs in enumerate(fft_pairs(layers, width)):
        opened = gate(release) if n == layers // 2 else None
        level = [tasks.Concat([level[a], level[b]] if opened is None else [opened, level[a], level[b]]).output
                 for a, b in pairs]
        values = [values[a] + values[b] for a, b in pairs]
        if n < layers // 2:
            first = level
    for obj in level:
        obj.keep()
    return first, level, values


def concat_fft(client: Any, cluster: Cluster, tmp_path: Any, victims: int, layers: int = 10,
               width: int = 500) -> None:
    """A concat graph of layers x width tasks; `victims` governors killed at its middle."""
    release = str(tmp_path / "release")
    with client.new_session() as s:
        first, level, values = gated_fft(release, layers, width)
        s.submit()
        s.wait(first)  # the first half is done, spread over the governors
        for _ in range(victims):
            kill_richest(cluster, client)
        open(release, "w").close()
        s.wait_all()
        assert [obj.fetch().get_bytes() for obj in level] == values


@pytest.mark.parametrize("victims", [1, 2])
def test_concat_graph_survives_killed_governors(make_cluster, tmp_path, victims):
    cluster = make_cluster([1, 1, 1])
    client = cluster.client()
    concat_fft(client, cluster, tmp_path, victims)
    assert len(governors(client)) == 3 - victims
    assert len(wait_for_events(cluster, "GovernorLost")) == victims
    assert wait_for_events(cluster, "ObjectRecomputed")


def chain(client: Any, release: str, length: int = 6) -> tuple[Any, list[Any], bytes]:
    """Concats in a chain, the second half behind the gate; (session, kept ends, expected)."""
    s = client.new_session()
    with s.bind_only():
        first = last = tasks.Concat([blob(b"a"), blob(b"b")]).output
        expected = b"ab"
        for i in range(length):
            inputs = [last, blob(b"%d" % i)] if i != length // 2 else [gate(release), last, blob(b"%d" % i)]
            last = tasks.Concat(inputs).output
            expected += b"%d" % i
        last.keep()
        s.submit()
        s.wait([first])
    return s, [last], expected


def test_a_frozen_governor_is_lost_and_registers_again_when_it_wakes(make_cluster, tmp_path):
    cluster = make_cluster([1, 1], server_args=("--heartbeat-timeout", "2"))
    client = cluster.client()
    with client.new_session() as s:
        t = tasks.Sleep(blob(b"z"), 0.5)
        t.output.keep()
        s.submit()

        def busy_governor() -> str | None:
            busy = [g["governor_id"] for g in client.get_server_info()["governors"] if g["tasks"]]
            return busy[0] if busy else None

        wait_until(busy_governor, what="the sleep to start")
        victim = busy_governor()
        assert victim is not None
        kill(cluster, victim, signal.SIGSTOP)
        try:
            wait_until(lambda: victim not in governors(client), timeout=10, what="the frozen governor to be lost")
            assert t.output.fetch().get_bytes() == b"z"
            t.update()
            assert t.info.governor != victim and t.info.attempts == 2
            [retried] = wait_for_events(cluster, "TaskRetried")
            assert retried["governor"] == victim and "no heartbeat" in retried["reason"]
        finally:
            kill(cluster, victim, signal.SIGCONT)
    wait_until(lambda: victim in governors(client), timeout=20, what="the woken governor to register again")
    [again] = [g for g in client.get_server_info()["governors"] if g["governor_id"] == victim]
    assert again["objects"] == [] and again["tasks"] == []


def test_killing_every_governor_then_starting_one_finishes_the_session(make_cluster, tmp_path):
    cluster = make_cluster([1, 1])
    client = cluster.client()
    release = str(tmp_path / "release")
    s, [last], expected = chain(client, release)
    for governor_id in list(cluster.governor_ids):
        kill(cluster, governor_id)
    wait_until(lambda: not governors(client), what="every governor to be lost")
    last.update()  # the session waits, it has not failed
    info = client.get_server_info()
    assert "waiting for a governor" in format_sessions(info)  # as `rain info` shows it
    cluster.start_governor(1)
    open(release, "w").close()
    s.wait_all()
    assert last.fetch().get_bytes() == expected
    s.close()


@remote
def kill_my_governor(ctx: Any) -> bytes:
    os.kill(os.getppid(), signal.SIGKILL)
    return b"unreachable"


def test_a_task_killing_its_governor_fails_after_three_strikes(make_cluster):
    cluster = make_cluster([1, 1, 1, 1])
    client = cluster.client()
    with client.new_session() as s:
        t = kill_my_governor()
        s.submit()
        with pytest.raises(RainException, match="may have killed them") as failure:
            s.wait_all()
    message = str(failure.value)
    lost = [g for g in cluster.governor_ids if g in message]
    assert len(lost) == 3 and "lost its governor or executor 3 times" in message, message
    assert len(governors(client)) == 1
    del t


COUNTER = 'n=$(cat "$0" 2>/dev/null || echo 0); echo $((n + 1)) > "$0"; [ "$n" -ge "$1" ] && echo ok'


def test_retries_rerun_a_failing_program(client, tmp_path):
    counter = str(tmp_path / "counter")
    flaky = Program(["sh", "-c", COUNTER, counter, "2"], stdout="out", retries=2)
    with client.new_session() as s:
        t = flaky()
        t.output.keep()
        s.submit()
        assert t.output.fetch().get_bytes() == b"ok\n"
        t.update()
        assert t.info.attempts == 3 and len(t.info.attempt_errors) == 2
        assert "exit" in t.info.attempt_errors[0] and t.info.error == ""


def test_a_task_fails_once_its_retries_are_spent(client, tmp_path):
    counter = str(tmp_path / "counter")
    with client.new_session() as s:
        t = tasks.Execute(["sh", "-c", COUNTER, counter, "5"], stdout=True, retries=1)
        s.submit()
        with pytest.raises(TaskException, match=r"\(attempt 2\)"):
            s.wait_all()
    with open(counter) as f:
        assert f.read() == "2\n"
    del t


@remote(retries=1)
def crash_once(ctx: Any, counter: str) -> bytes:
    """Kills its own executor on its first run."""
    if not os.path.exists(counter):
        open(counter, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return b"survived"


def test_a_crashed_executor_is_replaced_and_its_task_retried(client, tmp_path):
    with client.new_session() as s:
        t = crash_once(str(tmp_path / "counter"), retries=0)  # a crash is a strike, not a retry
        t.output.keep()
        s.submit()
        assert t.output.fetch().get_bytes() == b"survived"
        t.update()
        assert t.info.attempts == 2
        [error] = t.info.attempt_errors
        assert "killed by SIGKILL" in error, error


@remote
def join2(ctx: Any, a: Any, b: Any) -> bytes:
    return a.get_bytes() + b.get_bytes()


@remote
def join3(ctx: Any, a: Any, b: Any, c: Any) -> bytes:
    return a.get_bytes() + b.get_bytes() + c.get_bytes()


def program_step(inputs: list[Any]) -> Any:
    return tasks.Execute(["cat", *inputs], stdout=True).output


def remote_step(inputs: list[Any]) -> Any:
    return (join2 if len(inputs) == 2 else join3)(*inputs).output


@pytest.mark.parametrize("step", [program_step, remote_step], ids=["program", "remote"])
def test_pipelines_survive_a_killed_governor(make_cluster, tmp_path, step):
    """Chains of program or Python steps, a governor killed after their first half."""
    cluster = make_cluster([1, 1, 1])
    client = cluster.client()
    release = str(tmp_path / "release")
    width, depth = 6, 4
    with client.new_session() as s:
        opened = gate(release)
        ends, expected, halfway = [], [], []
        for w in range(width):
            obj, value = blob(b"w%d" % w), b"w%d" % w
            for d in range(depth):
                extra = blob(b"-%d" % d)
                obj = step([obj, extra] if d != depth // 2 else [opened, obj, extra])
                value += b"-%d" % d
                if d == depth // 2 - 1:
                    halfway.append(obj)
            obj.keep()
            ends.append(obj)
            expected.append(value)
        s.submit()
        s.wait(halfway)
        kill_richest(cluster, client)
        open(release, "w").close()
        s.wait_all()
        assert [obj.fetch().get_bytes() for obj in ends] == expected
    assert wait_for_events(cluster, "ObjectRecomputed")
