"""The `rain` command itself: start/stop without orphans, ready files, one-line user errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rain.cli.common import UserError, parse_listen
from rain.client import Client, blob, tasks
from tests.cluster import stop_process, wait_for_file, wait_until


def rain(*args: str, **kwargs) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "rain", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, **kwargs)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its parent to reap it is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def children_of(pid: int) -> list[int]:
    result = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        result.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return result


def descendants(pid: int) -> list[int]:
    found = children_of(pid)
    for child in list(found):
        found += descendants(child)
    return found


SEED_HELLO_WORLD = """
from rain.client import Client, blob, tasks
client = Client("localhost", {port})
with client.new_session() as s:
    bl = blob("Hello rain!")
    tsk = tasks.sleep(1.0, bl)
    tsk.output.keep()
    s.submit()
    print(tsk.output.fetch().get_str())
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_start_simple_runs_seed_hello_world_and_stops_cleanly(tmp_path, sig):
    ready = tmp_path / "ready"
    proc = rain("start", "--simple", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                "--ready-file", str(ready), "--cpus", "2", "--logdir", str(tmp_path / "logs"))
    try:
        info = wait_for_file(str(ready), proc)
        assert len(info["governors"]) == 1
        out = subprocess.run([sys.executable, "-c", SEED_HELLO_WORLD.format(port=info["port"])],
                             capture_output=True, text=True, timeout=30)
        assert out.stdout.strip() == "Hello rain!", out.stderr
        family = descendants(proc.pid)
        assert len(family) >= 2  # the server and the governor
        proc.send_signal(sig)
        assert proc.wait(10) in (0, 130)
        deadline = time.monotonic() + 5
        while any(process_exists(pid) for pid in family):
            assert time.monotonic() < deadline, "orphan processes left behind"
            time.sleep(0.05)
        logs = os.listdir(tmp_path / "logs")
        assert {"events.db", "server.log", "start.log"} <= set(logs)
        assert any(name.startswith("governor-") for name in logs)
    finally:
        stop_process(proc)


def test_governor_without_server_is_one_line_error(tmp_path):
    proc = rain("governor", "127.0.0.1:1", "--workdir", str(tmp_path / "w"), "--insecure")
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert lines[-1].startswith("rain: error: cannot connect to rain server at 127.0.0.1:1")
    assert "Traceback" not in err.decode()


def test_server_port_in_use_is_one_line_error(cluster):
    proc = rain("server", "--listen", f"127.0.0.1:{cluster.port}", "--http-listen", "127.0.0.1:0")
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "rain: error: cannot listen on" in err.decode() and "Traceback" not in err.decode()


def test_info_command(cluster):
    out = subprocess.run([sys.executable, "-m", "rain", "info", cluster.address, "--json",
                          "--access-file", cluster.access_file], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    info = json.loads(out.stdout)
    assert [g["governor_id"] for g in info["governors"]] == cluster.governor_ids
    table = subprocess.run([sys.executable, "-m", "rain", "info", cluster.address, "--access-file",
                            cluster.access_file], capture_output=True, text=True, timeout=30).stdout
    assert cluster.governor_ids[0] in table and "buildin/concat" in table


def test_governor_leaving_and_coming_back(make_cluster):
    cluster = make_cluster([1])
    client = cluster.client()
    cluster.stop_governor(cluster.governor_ids[0])
    with client.new_session() as s:
        t = tasks.Concat([blob(b"wait"), blob(b"s")])  # no governor: the task waits for one
        t.output.keep()
        s.submit()
        cluster.start_governor(1)
        assert t.output.fetch().get_bytes() == b"waits"


def test_server_address_forms(cluster):
    with Client(f"127.0.0.1:{cluster.port}", access_file=cluster.access_file) as client:
        assert client.get_server_info()["governors"]


@pytest.mark.parametrize("value,expected", [
    (None, ("", 7210)), ("8000", ("", 8000)), ("127.0.0.1:0", ("127.0.0.1", 0)),
    ("0.0.0.0", ("0.0.0.0", 7210)), ("[::1]:9000", ("::1", 9000)), ("localhost:1234", ("localhost", 1234)),
])
def test_parse_listen(value, expected):
    assert parse_listen(value, 7210) == expected


def test_parse_listen_rejects_bad_ports():
    with pytest.raises(UserError):
        parse_listen("host:99999", 7210)
    with pytest.raises(UserError):
        parse_listen("host:abc", 7210)


def test_quick_start_demo_runs():
    demo = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "demo.py")
    out = subprocess.run([sys.executable, demo], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "result: A FROM GRAPH HELLO RAIN TASK" in out.stdout


def test_start_passes_plugins_to_its_governors(tmp_path):
    ready = tmp_path / "ready"
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = rain("start", "--local-governors", "1,2", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                "--ready-file", str(ready), "--plugin", "tests.plugins_extra.extra",
                env={**os.environ, "PYTHONPATH": repo})
    try:
        info = wait_for_file(str(ready), proc)
        with Client("127.0.0.1", info["port"]) as client:
            governors = client.get_server_info()["governors"]
        assert sorted(g["resources"]["cpus"] for g in governors) == [1, 2]
        assert all("extra/reverse" in g["task_types"] for g in governors)
    finally:
        stop_process(proc)


SSH_SHIM = """#!/bin/sh
# Stands in for ssh on this one machine: records the host, runs the command with sh locally.
while [ "$1" = "-o" ]; do shift 2; done
echo "$1" >> "{log}"
shift
exec sh -c "$*"
"""


def test_start_with_governor_host_file_uses_ssh(tmp_path):
    """Governors listed in the host file are started through `ssh HOST command`; readiness is
    read from the server; stopping `rain start` leaves no governor behind."""
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    ssh_log = tmp_path / "ssh.log"
    (shim_dir / "ssh").write_text(SSH_SHIM.format(log=ssh_log))
    (shim_dir / "ssh").chmod(0o755)
    hosts = tmp_path / "hosts"
    hosts.write_text("# our cluster\nnode-a 1\n\nnode-b 2   # the big one\n")
    ready = tmp_path / "ready"
    env = {**os.environ, "PATH": f"{shim_dir}:{os.environ['PATH']}", "RAIN_DELETE_LIST_TIMEOUT": "0"}
    proc = rain("start", "--governor-host-file", str(hosts), "--listen", "127.0.0.1:0",
                "--http-listen", "127.0.0.1:0", "--ready-file", str(ready), env=env)
    try:
        info = wait_for_file(str(ready), proc)
        assert sorted(ssh_log.read_text().split()) == ["node-a", "node-b"]  # one ssh each, started at once
        assert len(info["governors"]) == 2
        with Client("127.0.0.1", info["port"]) as client:
            governors = client.get_server_info()["governors"]
            assert sorted(g["resources"]["cpus"] for g in governors) == [1, 2]
            with client.new_session() as s:
                t = tasks.Concat([blob(b"over "), blob(b"ssh")])
                t.output.keep()
                s.submit()
                assert t.output.fetch().get_bytes() == b"over ssh"
        family = descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) in (0, 130)
        wait_until(lambda: not any(process_exists(pid) for pid in family), 5, "no governor left behind")
    finally:
        stop_process(proc)


@pytest.mark.parametrize("content,error", [
    ("", "lists no hosts"),
    ("node-a 0\n", "expected 'HOST [CPUS]'"),
    ("node-a 2 extra\n", "expected 'HOST [CPUS]'"),
])
def test_bad_governor_host_file_is_one_line_error(tmp_path, content, error):
    hosts = tmp_path / "hosts"
    hosts.write_text(content)
    proc = rain("start", "--governor-host-file", str(hosts), "--listen", "127.0.0.1:0")
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.decode().strip().splitlines()[-1].startswith("rain: error:")
    assert error in err.decode() and "Traceback" not in err.decode()
