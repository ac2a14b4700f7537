"""Real Rain processes for integration tests, started through the CLI.

Every process runs in its own process group on free loopback ports; readiness is awaited on
ready files, and teardown kills whole process groups so no test leaves orphans behind.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from rain.client import Client

READY_TIMEOUT = 30.0


class ProcessFailed(Exception):
    pass


def wait_for_file(path: str, process: subprocess.Popen[bytes], timeout: float = READY_TIMEOUT) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        if process.poll() is not None:
            raise ProcessFailed(f"{process.args} exited with code {process.returncode}")
        time.sleep(0.01)
    raise ProcessFailed(f"{process.args} not ready within {timeout} s")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    try:  # children the process may have left in its group
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Cluster:
    """A server plus governors; `tmp` holds their ready files, logs, work dirs and the access
    file, which is passed explicitly to every process and client (never the user's ~/.rain)."""

    def __init__(self, tmp: str, env: dict[str, str] | None = None, host: str = "127.0.0.1") -> None:
        self.tmp = tmp
        self.host = host  # the server's address, which governors and clients connect to
        self.access_file = os.path.join(tmp, "access.json")
        self.env = {**os.environ, **(env or {})}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.governor_ids: list[str] = []
        self.governor_processes: dict[str, subprocess.Popen[bytes]] = {}
        self.port: int | None = None
        self.http_port: int | None = None
        self.clients: list[Client] = []
        self._counter = 0

    def _spawn(self, args: list[str], name: str, prefix: tuple[str, ...] = ()) -> tuple[subprocess.Popen[bytes], str]:
        """`prefix`: a command the process runs under (`ip netns exec NAME` puts it on another host)."""
        self._counter += 1
        ready = os.path.join(self.tmp, f"{name}-{self._counter}.ready")
        log = open(os.path.join(self.tmp, f"{name}-{self._counter}.out"), "wb")  # noqa: SIM115 (the child's)
        process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "rain", *args, "--ready-file", ready],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process, ready

    def start_server(self, *extra: str) -> None:
        process, ready = self._spawn(
            ["server", "--listen", f"{self.host}:0", "--http-listen", "127.0.0.1:0",
             "--logdir", os.path.join(self.tmp, "logs"), "--access-file", self.access_file, *extra], "server")
        info = wait_for_file(ready, process)
        self.port = info["port"]
        self.http_port = info["http_port"]
        self.server_process = process

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start_governor(self, cpus: int = 1, *extra: str) -> str:
        return self.start_governors([cpus], *extra)[0]

    def start_governors(self, cpus: list[int], *extra: str,
                        hosts: list[tuple[str, tuple[str, ...]]] | None = None) -> list[str]:
        """Starts all the governors at once (each start is mostly Python importing), then waits
        until each is registered; ids in the order of `cpus`. `hosts`: per governor, the
        address it listens on and the command prefix that puts it on that host."""
        started = []
        for i, n in enumerate(cpus):
            self._counter += 1
            workdir = os.path.join(self.tmp, f"gov-work-{self._counter}")
            address, prefix = hosts[i] if hosts else ("127.0.0.1", ())
            started.append(self._spawn(
                ["governor", self.address, "--cpus", str(n), "--listen", f"{address}:0",
                 "--workdir", workdir, "--access-file", self.access_file, *extra], "governor", prefix))
        ids = []
        for process, ready in started:
            governor_id = wait_for_file(ready, process)["governor_id"]
            self.governor_ids.append(governor_id)
            self.governor_processes[governor_id] = process
            ids.append(governor_id)
        return ids

    def spawn_governor(self, cpus: int = 1, *extra: str) -> subprocess.Popen[bytes]:
        """Starts a governor without waiting for it (for tests of failing starts)."""
        process, _ready = self._spawn(["governor", self.address, "--cpus", str(cpus),
                                       "--access-file", self.access_file, *extra], "governor")
        return process

    def stop_governor(self, governor_id: str) -> None:
        stop_process(self.governor_processes.pop(governor_id))
        self.governor_ids.remove(governor_id)

    def client(self) -> Client:
        client = Client(self.host, self.port, access_file=self.access_file)
        self.clients.append(client)
        return client

    def http_token(self) -> str:
        """The monitoring port's token (what `rain server` prints in the dashboard URL)."""
        from rain.core.access import load
        from rain.core.server.http_auth import http_token

        return http_token(load(self.access_file).key)

    def logs(self) -> str:
        out = []
        for name in sorted(os.listdir(self.tmp)):
            if name.endswith(".out"):
                with open(os.path.join(self.tmp, name), errors="replace") as f:
                    out.append(f"--- {name}\n{f.read()}")
        return "\n".join(out)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for process in reversed(self.processes):
            stop_process(process)


def wait_until(condition: Any, timeout: float = 10.0, what: str = "condition") -> None:
    """Polls a condition on a live system (server info, files) until it holds or time is up."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def spans(tasks: list[Any]) -> list[tuple[float, float]]:
    """[start, end] of each finished task as its governor measured it (wall clock at the start,
    then a monotonic duration), so tests compare the order of events, not the test's clock."""
    for task in tasks:
        task.update()
    return [(task.info.start_time, task.info.start_time + task.info.duration) for task in tasks]


def ran_at_once(tasks: list[Any]) -> bool:
    """Every task started before any of them ended."""
    times = spans(tasks)
    return max(start for start, _ in times) < min(end for _, end in times)


def ran_one_at_a_time(tasks: list[Any]) -> bool:
    """No two tasks ran at the same time."""
    times = sorted(spans(tasks))
    return all(end <= start for (_, end), (start, _) in itertools.pairwise(times))
