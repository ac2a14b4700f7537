"""The server's own CPU per trivial task, without sockets, codecs or other processes.

    python bench/server_cost.py [--tasks 20000] [--runs 5]

Drives a `Server` directly, as its connection handlers would: one submit of N independent
tasks (one kept output each, as `python_tasks.py` sends them), their assignment to one
governor that records what it is sent, the governor's reports in batches of 50 (with the
small output's data, as the server asks for it), and the event log writing what all this
recorded. Prints the best of --runs runs, in process CPU microseconds per task, by phase: a
figure for the state machine that the end-to-end benchmark's noise would hide.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from typing import Any

from rain.common.rows import FinishedTask, ReportedOutput, SubmittedObject, TaskRow
from rain.core.server.events import EventLog
from rain.core.server.monitor import Monitor
from rain.core.server.server import Server
from rain.core.server.state import GovernorState

GOVERNOR = "127.0.0.1:5000"
REPORT_BATCH = 50


class RecordingGovernor:
    """A governor link that keeps the assignments and ignores the rest."""

    def __init__(self) -> None:
        self.assigned: list[Any] = []

    def assign(self, task: Any) -> None:
        self.assigned.append(task)

    def delete(self, object_id: Any) -> None:
        pass

    def drop_session(self, session_id: int) -> None:
        pass

    def peer_lost(self, address: str) -> None:
        pass


class SilentClient:
    def send(self, msg: Any) -> None:
        pass


def one_run(n: int, logdir: str) -> tuple[float, float, float]:
    log = EventLog(logdir)
    server = Server(delete_timeout=0, events=Monitor(log))
    link = RecordingGovernor()
    server.add_governor(GovernorState(GOVERNOR, 10**7, frozenset({"py/call"}), link))
    client = SilentClient()
    session = server.session(client, server.new_session(client, "bench"))
    objects = [list(SubmittedObject(2 * i + 2, "0", None, "blob", None, True, None, None)) for i in range(n)]
    tasks = [list(TaskRow(2 * i + 1, "py/call", b"config", [], [2 * i + 2], 1, "inc", None)) for i in range(n)]
    gc.collect()
    start = time.process_time()
    server.submit(session, tasks, objects)
    submitted = time.process_time()
    reports = [list(FinishedTask(a.session_id, a.task[0], {"start_time": time.time(), "duration": 0.000123},
                                 [list(ReportedOutput(a.outputs[0][0], {"size": 5}, b"12345"))]))
               for a in link.assigned]
    gov = server.governors[GOVERNOR]
    finishing = time.process_time()
    for i in range(0, n, REPORT_BATCH):
        server.tasks_updated(gov, reports[i:i + REPORT_BATCH], [])
    finished = time.process_time()
    pending, log._pending = log._pending, []
    log._write(pending)
    written = time.process_time()
    log.close()
    return submitted - start, finished - finishing, written - finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as logdir:
            runs.append(one_run(args.tasks, logdir))
    submit, finish, write = (min(phase) / args.tasks * 1e6 for phase in zip(*runs, strict=True))
    print(f"server CPU per task, best of {args.runs} runs of {args.tasks:,} tasks: submit+assign {submit:.1f} us, "
          f"finish {finish:.1f} us, event log write {write:.1f} us, total {submit + finish + write:.1f} us")


if __name__ == "__main__":
    main()
