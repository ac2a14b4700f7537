"""Tiny external programs: Rain's `tasks.Execute` against HyperQueue, and Python's own spawn rate.

    python bench/programs.py [--tasks 3000] [--runs 3] [--only rain|hq|spawn] [--plot FILE.png]

Each system gets 2 CPUs and runs N programs `echo I` whose stdout is kept:
  - Rain: one governor with 2 CPUs, `tasks.Execute(["echo", str(i)], stdout=True)` for
    i < N in one session, submitted at once, then `wait_all()`. The figure counts from
    submit to the last completion; the governor's CPU time per program is printed too
    (compare it with the spawn floor below), and each run's log splits the CPU per program
    into the governor, the server and the programs themselves (the governor's reaped children).
  - HyperQueue (PyPI `hyperqueue`, bench environment only): `LocalCluster` runs the real HQ
    server and one worker with 2 cores in-process; one `Job` with N `job.program(["echo",
    str(i)], stdout=FILE)`, submitted and waited for.
  - spawn floor: this process runs the same programs with `subprocess.run` in 2 threads,
    stdout to a file: what spawning alone costs on this machine.
With Rain, the CPU of the spawn itself is measured too (the governor's own call, glibc's
posix_spawn through `rain.core.governor.spawn`, one program at a time in this process), and
the governor's CPU beyond it is printed.
Runs are interleaved (Rain, HQ, spawn, Rain, ...) so that load from other users of the
machine falls on all of them alike; medians are reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local import cpu_seconds, local_rain

from rain.client import tasks


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rain_programs(client: Any, n: int) -> float:
    with client.new_session() as s:
        ts = [tasks.Execute(["echo", str(i)], stdout=True) for i in range(n)]
        ts[-1].output.keep()
        start = time.perf_counter()
        s.submit()
        s.wait_all()
        elapsed = time.perf_counter() - start
        assert ts[-1].output.fetch().get_bytes() == b"%d\n" % (n - 1)
    return n / elapsed


class RainRunner:
    def __init__(self) -> None:
        self._ctx = local_rain([2])
        self.cluster = self._ctx.__enter__()
        self.client = self.cluster.client()
        self.gov_pid = next(iter(self.cluster.governor_processes.values())).pid
        self.server_pid = self.cluster.server_process.pid
        rain_programs(self.client, 200)  # warm up

    def run(self, n: int) -> tuple[float, float]:
        gov0, server0, programs0 = cpu_seconds(self.gov_pid), cpu_seconds(self.server_pid), _children_cpu(self.gov_pid)
        rate = rain_programs(self.client, n)
        gov = (cpu_seconds(self.gov_pid) - gov0) / n * 1e6
        server = (cpu_seconds(self.server_pid) - server0) / n * 1e6
        programs = (_children_cpu(self.gov_pid) - programs0) / n * 1e6
        log(f"  Rain CPU per program: governor {gov:.0f} us, server {server:.0f} us, the programs {programs:.0f} us")
        return rate, gov / 1e3

    def close(self) -> None:
        self.client.close()
        self._ctx.__exit__(None, None, None)


def _children_cpu(pid: int) -> float:
    """User + system CPU time of the reaped children of a live process (a governor's programs)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


class HqRunner:
    def __init__(self) -> None:
        os.environ.setdefault("TQDM_DISABLE", "1")  # wait_for_jobs draws a progress bar
        from hyperqueue.cluster import LocalCluster, WorkerConfig

        self._tmp = tempfile.TemporaryDirectory(prefix="hq-bench-")
        self.cluster = LocalCluster(server_dir=self._tmp.name)
        self.cluster.start_worker(WorkerConfig(cores=2))
        self.client = self.cluster.client()
        self._count = 0
        self.run(200)  # warm up

    def run(self, n: int) -> tuple[float, float]:
        from hyperqueue import Job

        self._count += 1
        out = os.path.join(self._tmp.name, f"run{self._count}")
        os.mkdir(out)
        job = Job(default_workdir=out)
        for i in range(n):
            job.program(["echo", str(i)], stdout=os.path.join(out, f"{i}.out"), stderr=None)
        start = time.perf_counter()
        submitted = self.client.submit(job)
        self.client.wait_for_jobs([submitted])
        elapsed = time.perf_counter() - start
        with open(os.path.join(out, f"{n - 1}.out"), "rb") as f:
            assert f.read() == b"%d\n" % (n - 1)
        return n / elapsed, float("nan")

    def close(self) -> None:
        self.cluster.stop()
        self._tmp.cleanup()


class SpawnRunner:
    """Python's own rate: subprocess.run in 2 threads, stdout to a file."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="spawn-bench-")

    def run(self, n: int) -> tuple[float, float]:
        def one(i: int) -> None:
            with open(os.path.join(self._tmp.name, f"{i % 64}.out"), "wb") as f:
                subprocess.run(["echo", str(i)], stdout=f, check=True)

        start = time.perf_counter()
        cpu0 = time.process_time()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(one, range(n)))
        elapsed = time.perf_counter() - start
        return n / elapsed, (time.process_time() - cpu0) / n * 1e3

    def close(self) -> None:
        self._tmp.cleanup()


def spawn_cpu_ms(n: int = 500) -> float:
    """The parent's CPU per program of the governor's own spawn call, programs run one by one."""
    from rain.core.governor.spawn import start_program

    with tempfile.TemporaryDirectory(prefix="spawn-cpu-") as tmp:
        out = os.open(tmp, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o644)
        try:
            cpu0 = time.process_time()
            for i in range(n):
                child = start_program(["echo", str(i)], cwd=tmp, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
                os.waitpid(child.pid, 0)
            return (time.process_time() - cpu0) / n * 1e3
        finally:
            os.close(out)


RUNNERS = {"rain": RainRunner, "hq": HqRunner, "spawn": SpawnRunner}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=sorted(RUNNERS), action="append")
    parser.add_argument("--plot", help="draw the medians into this PNG")
    args = parser.parse_args()
    names = args.only or list(RUNNERS)
    load0 = os.getloadavg()
    runners = {name: RUNNERS[name]() for name in names}
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    try:
        for run in range(args.runs):
            for name, runner in runners.items():
                rate, cpu_ms = runner.run(args.tasks)
                rates[name].append(rate)
                cpus[name].append(cpu_ms)
                log(f"run {run + 1} {name}: {rate:,.0f} programs/s, CPU {cpu_ms:.2f} ms per program")
    finally:
        for runner in runners.values():
            runner.close()
    load1 = os.getloadavg()
    spawn_ms = spawn_cpu_ms() if "rain" in names else float("nan")
    print(f"\n{args.tasks:,} programs `echo I` with stdout kept, 2 CPUs each, median of {args.runs} interleaved runs")
    labels = {"rain": "Rain (1 governor x 2 CPUs)", "hq": "HyperQueue (LocalCluster, 1 worker x 2 cores)",
              "spawn": "spawn floor (subprocess.run, 2 threads)"}
    for name in names:
        cpu = statistics.median(cpus[name])
        who = "governor" if name == "rain" else "this process"
        cpu_text = "" if cpu != cpu else f"  CPU {cpu:.2f} ms/program ({who})"
        print(f"  {labels[name]:48} {statistics.median(rates[name]):8,.0f} programs/s  "
              f"(runs: {' '.join(f'{r:,.0f}' for r in rates[name])}){cpu_text}")
    if "rain" in rates:
        beyond = statistics.median(cpus["rain"]) - spawn_ms
        print(f"  Rain governor CPU beyond the spawn itself ({spawn_ms:.2f} ms/program): {beyond:.2f} ms/program "
              f"(target <= 0.5 ms: {'met' if beyond <= 0.5 else 'MISSED'})")
    if "rain" in rates and "hq" in rates:
        ratio = statistics.median(rates["rain"]) / statistics.median(rates["hq"])
        print(f"  Rain/HyperQueue: {ratio:.2f}x (target >= 2.5x: {'met' if ratio >= 2.5 else 'MISSED'}); "
              f"Rain >= 1,000/s: {'met' if statistics.median(rates['rain']) >= 1000 else 'MISSED'}")
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f}")
    if args.plot:
        from plotting import bar_panels

        short = {"rain": "Rain", "hq": "HyperQueue", "spawn": "spawn floor"}
        bar_panels(args.plot, f"{args.tasks:,} programs `echo I`, 2 CPUs, median of {args.runs} runs",
                   [short[n] for n in names],
                   [("throughput", "programs/s", [statistics.median(rates[n]) for n in names])])


if __name__ == "__main__":
    main()
