"""The server's journal: what it costs live, and how long a restore takes.

    python bench/journal.py [--runs N] [--quick] [--restore-tasks N] [--only live|writer|restore]

live: compare.py's workloads (a) 50,000 independent tiny concats and (b) the FFT-like concat
graph 14 x 4,096, on one server + one governor with 2 CPUs, with and without `--journal`,
runs alternated; the median tasks/s of each and the ratio, and the server process's CPU time
per task (user + system, including the journal's writer thread), which a loaded machine
disturbs much less than the throughput.
writer: the CPU time the journal itself takes per task (appending, encoding, writing and fsyncing
one session of 50,000 tiny tasks in this process, as the server feeds it during (a)), which the
load of a shared machine disturbs least.
restore: a journal holding one session of N independent concats (default 1,000,000) submitted
in batches of 50,000, every task finished; the time to read it and rebuild the server's state
(`Journal.open` + `restore`, in this process), which is what a restarted server does first.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time

import cbor2
import trio
from compare import rain_fft, rain_independent
from local import cpu_seconds, local_rain

from rain.cli.common import GC_THRESHOLDS
from rain.common.rows import ReportedOutput, SubmittedObject, TaskRow
from rain.core.protocol import messages as m
from rain.core.server.journal import Journal
from rain.core.server.main import open_journal
from rain.core.server.server import Server


def live(args: argparse.Namespace) -> None:
    n, layers, width = (5_000, 6, 512) if args.quick else (50_000, 14, 4_096)
    sizes = {"a": n, "b": layers * width}
    speed: dict[tuple[str, bool], list[float]] = {}
    cpu: dict[tuple[str, bool], list[float]] = {}  # the server's CPU seconds per task
    with tempfile.TemporaryDirectory(prefix="rain-bench-journal-") as tmp:
        for run in range(args.runs):
            for journaled in (False, True):
                server_args = ("--journal", os.path.join(tmp, f"j{run}")) if journaled else ()
                with local_rain([2], server_args=server_args) as cluster:
                    client = cluster.client()
                    pid = cluster.server_process.pid
                    for workload in ("a", "b"):
                        before = cpu_seconds(pid)
                        rate = rain_independent(client, n) if workload == "a" else rain_fft(client, layers, width)
                        speed.setdefault((workload, journaled), []).append(rate)
                        cpu.setdefault((workload, journaled), []).append((cpu_seconds(pid) - before) / sizes[workload])
    for workload in ("a", "b"):
        off, on = (statistics.median(speed[(workload, j)]) for j in (False, True))
        cpu_off, cpu_on = (1e6 * statistics.median(cpu[(workload, j)]) for j in (False, True))
        print(f"({workload}) without journal {off:,.0f} tasks/s, with journal {on:,.0f} tasks/s: "
              f"{100 * (on / off - 1):+.1f} %; server CPU per task {cpu_off:.1f} us without, "
              f"{cpu_on:.1f} us with: {100 * (cpu_on / cpu_off - 1):+.1f} %")
    print(f"({args.runs} runs each, alternated; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


async def write_journal(path: str, tasks: int, batch: int = 50_000) -> None:
    journal = Journal(path)
    journal.open()
    journal.append(["session", 1, "million", False])
    journal.append(["governor", 0, "127.0.0.1:1"])
    journal.append(["submit", 1, [], [list(SubmittedObject(1, "src", None, "blob", None, False, b"x", None))]])
    next_id = 2
    for start in range(0, tasks, batch):
        count = min(batch, tasks - start)
        rows, objects = [], []
        for i in range(next_id, next_id + 2 * count, 2):
            rows.append(list(TaskRow(i, "buildin/concat", None, [1, None, 1, None], [i + 1], 1, None, None)))
            objects.append(list(SubmittedObject(i + 1, "output", None, "blob", None, False, None, None)))
        journal.append(["submit_frame", 1, cbor2.dumps(m.Submit(0, 1, rows, objects).to_wire())])  # as a client sent it
        for row in rows:
            journal.append(["finished", 1, row[0], [ReportedOutput(row[0] + 1, {"size": 2})]])
        next_id += 2 * count
        await journal.flush()
    journal.close()


async def journal_cpu(path: str, tasks: int, batch: int) -> float:
    """CPU seconds (every thread of this process, fsyncs included) that a journal spends on
    one session of `tasks` tiny tasks: the submit as the client sent it, then the finishes
    appended one by one as the server does and flushed every `batch` tasks (what 50 ms of
    compare.py (a) brings)."""
    rows = [list(TaskRow(i, "buildin/concat", None, [1, None, 1, None], [i + 1], 1, None, None))
            for i in range(2, 2 * tasks + 2, 2)]
    objects = [list(SubmittedObject(1, "src", None, "blob", None, False, b"x", None))]
    objects += [list(SubmittedObject(row[0] + 1, "output", None, "blob", None, False, None, None)) for row in rows]
    frame = cbor2.dumps(m.Submit(0, 1, rows, objects).to_wire())
    journal = Journal(path)
    journal.open()
    start = time.process_time()
    journal.append(["session", 1, "s", False])
    journal.append(["submit_frame", 1, frame])
    await journal.flush()
    for first in range(0, tasks, batch):
        for row in rows[first:first + batch]:
            journal.append(["finished", 1, row[0], [ReportedOutput(row[0] + 1, {"size": 2})]])
        await journal.flush()
    journal.append(["close", 1])
    await journal.flush()
    cpu = time.process_time() - start
    journal.close()
    return cpu


def writer_cost(args: argparse.Namespace) -> None:
    tasks = 5_000 if args.quick else 50_000
    with tempfile.TemporaryDirectory(prefix="rain-bench-journal-") as tmp:
        cpu = [trio.run(journal_cpu, os.path.join(tmp, f"j{run}"), tasks, 175) for run in range(args.runs)]
    print(f"the journal's own CPU time per task (submit + finish, {tasks:,} tasks, a flush per 175 "
          f"finishes): {1e6 * statistics.median(cpu) / tasks:.1f} us (median of {args.runs}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


def restore_time(args: argparse.Namespace) -> None:
    tasks = 100_000 if args.quick else args.restore_tasks
    with tempfile.TemporaryDirectory(prefix="rain-bench-journal-") as tmp:
        path = os.path.join(tmp, "journal")
        trio.run(write_journal, path, tasks)
        size = os.path.getsize(path)
        gc.freeze()  # as `rain server` runs (rain.cli.common)
        gc.set_threshold(*GC_THRESHOLDS)
        start, cpu_start = time.perf_counter(), time.process_time()
        server = Server()
        journal = open_journal(server, path)  # what `rain server --journal` does first
        total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        assert journal is not None
        journal.close()
        session = server.sessions[1]
        assert len(session.tasks) == tasks and session.unfinished_tasks == 0
    print(f"restore of a {tasks:,}-task session ({size / 1e6:.0f} MB journal): {total:.2f} s "
          f"({cpu:.2f} s of CPU; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--restore-tasks", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("live", "writer", "restore"))
    args = parser.parse_args()
    if args.only in (None, "restore"):
        restore_time(args)
    if args.only in (None, "writer"):
        writer_cost(args)
    if args.only in (None, "live"):
        live(args)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
