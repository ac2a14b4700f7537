"""CPU of one Python executor per trivial call, without a server or a governor around it.

    python bench/executor_calls.py [--calls 20000] [--runs 3]

Starts `python -m rain.plugins.python.executor` on a socketpair, as a governor does, and sends
it `inc(ctx, i) -> str(i + 1).encode()` calls one at a time, each frame as a governor makes it
(the function's bytes with the first call only). The executor's CPU (user + system, from /proc)
over the calls after a warm-up is reported per call, with the wall time per round trip. The
warm-up ends more than a second before the timed calls, so that the executor's working dir is
no longer "recently changed" (see executor.ExecutorDirs).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import cloudpickle

from rain.common.rows import TaskRow
from rain.core.protocol.codec import decode, encode
from rain.core.protocol.framing import FrameReader
from rain.core.protocol.messages import PROTOCOL_VERSION, Hello, Message
from rain.plugins.python.messages import ExecutorCall, ExecutorResult
from rain.plugins.python.pickling import dumps_with_inputs

WARM_UP = 200


def inc(ctx: Any, i: int) -> bytes:
    return str(i + 1).encode()


class Driver:
    """The governor's end of the socket, blocking."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = FrameReader()

    def receive(self) -> Message:
        while (frame := self.reader.next_frame()) is None:
            data = self.sock.recv(1 << 16)
            if not data:
                raise SystemExit("the executor closed its socket")
            self.reader.feed(data)
        return decode(frame)

    def call(self, frame: bytes) -> ExecutorResult:
        self.sock.sendall(frame)
        result = self.receive()
        assert isinstance(result, ExecutorResult) and result.error is None, result
        return result


def call_frame(i: int, tasks_dir: str, fn: bytes | None) -> bytes:
    config = {"args": {"i": dumps_with_inputs(i, lambda obj: None)}, "inputs": {}, "encode": [None]}
    row = list(TaskRow(i, "py/call", config, [1, "fn"], [1_000_000 + i], 1, "inc", None))
    return encode(ExecutorCall({"session_id": 1, "row": row}, tasks_dir, [1, 1], fn, [None], [["out", None, "blob"]]))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(calls: int) -> tuple[float, float]:
    """(executor CPU us per call, wall us per call) of one fresh executor."""
    with tempfile.TemporaryDirectory() as tasks_dir:
        ours, theirs = socket.socketpair()
        process = subprocess.Popen([sys.executable, "-m", "rain.plugins.python.executor", str(theirs.fileno())],
                                   pass_fds=(theirs.fileno(),), cwd=tasks_dir)
        theirs.close()
        driver = Driver(ours)
        try:
            driver.receive()
            ours.sendall(encode(Hello(PROTOCOL_VERSION, "governor")))
            fn = cloudpickle.dumps(inc)
            frames = [call_frame(i, tasks_dir, fn if i == 0 else None) for i in range(WARM_UP + calls)]
            for frame in frames[:WARM_UP]:
                result = driver.call(frame)
            assert result.outputs == [{"content_type": None, "user": {}, "data_type": "blob",
                                       "data": str(WARM_UP).encode()}], result
            time.sleep(1.1)
            cpu, wall = cpu_seconds(process.pid), time.perf_counter()
            for frame in frames[WARM_UP:]:
                driver.call(frame)
            cpu, wall = cpu_seconds(process.pid) - cpu, time.perf_counter() - wall
        finally:
            ours.close()
            process.wait()
    return 1e6 * cpu / calls, 1e6 * wall / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cpus = []
    for n in range(args.runs):
        cpu, wall = run(args.calls)
        cpus.append(cpu)
        print(f"run {n + 1}: executor CPU {cpu:.1f} us per call, {wall:.1f} us per round trip", flush=True)
    print(f"executor CPU per trivial call, median of {args.runs}: {statistics.median(cpus):.1f} us")


if __name__ == "__main__":
    main()
