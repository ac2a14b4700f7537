"""`rain info` lists open sessions with their progress and failures."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rain.client import blob, tasks
from rain.common.errors import TaskException


def rain_info(cluster) -> str:
    out = subprocess.run([sys.executable, "-m", "rain", "info", cluster.address, "--access-file", cluster.access_file],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_info_shows_sessions_with_progress(make_cluster, tmp_path):
    cluster = make_cluster([2])  # one CPU for the gated program, one for the rest
    client = cluster.client()
    running = client.new_session("half done")
    gate = tmp_path / "gate"
    with running.bind_only():
        done = [tasks.Concat([blob(b"x")]) for _ in range(3)]
        tasks.Execute(f"while [ ! -e {gate} ]; do sleep 0.01; done", shell=True)
        running.submit()
        running.wait(done)
    failed = client.new_session("doomed")
    with failed.bind_only():
        tasks.Execute("exit 9", shell=True, name="doom")
        failed.submit()
        with pytest.raises(TaskException):
            failed.wait_all()
    lines = rain_info(cluster).splitlines()
    header = lines.index(next(line for line in lines if line.startswith("SESSION")))
    assert lines[header].split() == ["SESSION", "NAME", "STATUS", "PROGRESS"]
    rows = {line.split()[0]: line for line in lines[header + 1:] if line[:1].isdigit()}
    assert "half done  running" in rows[str(running.session_id)]
    assert rows[str(running.session_id)].endswith("[###############.....] 3/4 75%")
    assert "failed" in rows[str(failed.session_id)] and rows[str(failed.session_id)].endswith("0/1 0%")
    assert any(line.startswith(f"session {failed.session_id} failed: task 'doom'") and "exit code 9" in line
               for line in lines)
    gate.touch()
    running.wait_all()
    assert rain_info(cluster).count("[####################] 4/4 100%") == 1
