"""Trivial Python tasks on 2 CPUs: Rain (`@remote`) against Ray core and Dask, side by side.

    python bench/python_tasks.py [--tasks 5000] [--runs 3] [--only rain|ray|dask ...] [--plot FILE.png]

Each run submits N independent tasks `inc(i) -> str(i + 1).encode()` at once and waits for
all of them; the clock covers building the graph (Rain) or the calls (Ray `inc.remote(i)`,
Dask `client.map`), submitting, scheduling, running and the completion notice:
  - Rain: one governor with 2 CPUs (`--rain-shape 1,1` for two 1-CPU governors),
    RAIN_DELETE_LIST_TIMEOUT=0; the function is `@remote() def inc(ctx, i)`.
  - Ray: `ray.init(num_cpus=2)` in the run's process; `ray.wait` on all refs (results not fetched).
  - Dask: `LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`, `client.map(...,
    pure=False)`, `wait`; its default root-task queuing (see compare.py for why that matters).
Each run starts one system in a process of its own (its client included), warms it up with
one run of the same size, times the next and shuts it down; the runs are interleaved (Rain, Ray,
Dask, Rain, ...) so that the load of other users of the machine falls on all of them alike. So
every system has the machine's 2 CPUs to itself while it is timed: with all three up at once,
the idle ones took a quarter of a CPU (Ray's GCS and raylet about 15%, Dask's heartbeats about
12%) and their driver threads took the GIL from the client being timed. Medians are reported,
with the CPU time per task of each system's processes (for Rain, each run's log line also splits
it into client, server, governors and executors). Ray and Dask come from the bench environment
(`make bench-env`).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from typing import Any

from local import local_rain
from peers import descendants, ray_cluster, tree_cpu_seconds

SYSTEMS = ("rain", "ray", "dask")  # also the order of the runs in each round


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def inc(i: int) -> bytes:
    return str(i + 1).encode()


def inc_ctx(ctx: Any, i: int) -> bytes:
    return str(i + 1).encode()


class Rain:
    def __init__(self, stack: ExitStack, shape: list[int]) -> None:
        from rain.client import remote

        self.inc = remote()(inc_ctx)
        self.cluster = stack.enter_context(local_rain(shape, {"RAIN_DELETE_LIST_TIMEOUT": "0"}))
        self.client = self.cluster.client()
        self.pids = [self.cluster.server_process.pid] + [p.pid for p in self.cluster.governor_processes.values()]
        self.run(200)

    def run(self, n: int) -> float:
        with self.client.new_session() as s:
            start = time.perf_counter()
            last = [self.inc(i) for i in range(n)][-1]
            last.output.keep()
            s.submit()
            s.wait_all()
            elapsed = time.perf_counter() - start
            assert last.output.fetch().get_bytes() == str(n).encode()
        return n / elapsed

    def processes(self) -> list[int]:
        return self.pids + [k for p in self.pids[1:] for k in descendants(p)]  # + executors

    def parts(self) -> dict[str, list[int]]:
        """Rain's processes by role, for the CPU breakdown (the client is this process)."""
        return {"server": self.pids[:1], "governors": self.pids[1:],
                "executors": [k for p in self.pids[1:] for k in descendants(p)]}


class Ray:
    def __init__(self, stack: ExitStack) -> None:
        self.ray = stack.enter_context(ray_cluster(2))
        self.inc = self.ray.remote(inc)
        self.run(200)

    def run(self, n: int) -> float:
        start = time.perf_counter()
        refs = [self.inc.remote(i) for i in range(n)]
        self.ray.wait(refs, num_returns=n, fetch_local=False)
        elapsed = time.perf_counter() - start
        assert self.ray.get(refs[-1]) == str(n).encode()
        return n / elapsed

    def processes(self) -> list[int]:
        return descendants(os.getpid())


class Dask:
    def __init__(self, stack: ExitStack) -> None:
        from dask.distributed import Client, LocalCluster

        logging.getLogger("distributed").setLevel(logging.ERROR)
        self.cluster = stack.enter_context(LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                        dashboard_address=None))
        self.client = stack.enter_context(Client(self.cluster))
        self.run(200)

    def run(self, n: int) -> float:
        from dask.distributed import wait

        start = time.perf_counter()
        futures = self.client.map(inc, range(n), pure=False)
        wait(futures)
        elapsed = time.perf_counter() - start
        assert futures[-1].result() == str(n).encode()
        return n / elapsed

    def processes(self) -> list[int]:
        return list(self.client.run(os.getpid).values())


def run_one(name: str, tasks: int, shape: list[int]) -> dict[str, Any]:
    """Starts `name` in this process, warms it up with one run of `tasks`, times the next."""
    with ExitStack() as stack:
        system: Any = Rain(stack, shape) if name == "rain" else Ray(stack) if name == "ray" else Dask(stack)
        gc.collect()
        gc.freeze()  # what the client loaded and built at start-up is not scanned on every run
        system.run(tasks)
        pids = system.processes()
        parts = system.parts() if name == "rain" else {}
        cpu0, own0 = tree_cpu_seconds(pids), time.process_time()
        parts0 = {role: tree_cpu_seconds(p) for role, p in parts.items()}
        rate = system.run(tasks)
        own = time.process_time() - own0
        shares = {role: (tree_cpu_seconds(p) - parts0[role]) / tasks * 1e6 for role, p in parts.items()}
        return {"rate": rate, "cpu": (tree_cpu_seconds(pids) - cpu0 + own) / tasks * 1e6,
                "parts": {"client": own / tasks * 1e6, **shares} if parts else {}}


def run_apart(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """One timed run of `name` in a process of its own (see the module docstring)."""
    out = subprocess.run([sys.executable, __file__, "--one", name, "--tasks", str(args.tasks),
                          "--rain-shape", args.rain_shape], capture_output=True, timeout=600)
    if out.returncode != 0:  # what it said is shown only then: Dask's workers log tracebacks as they stop
        sys.stderr.write(out.stderr.decode(errors="replace"))
        raise SystemExit(f"the {name} run failed (exit code {out.returncode})")
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=SYSTEMS, action="append")
    parser.add_argument("--rain-shape", default="2", help="governor CPUs, e.g. 2 or 1,1")
    parser.add_argument("--plot", help="draw the medians into this PNG")
    parser.add_argument("--one", choices=SYSTEMS, help=argparse.SUPPRESS)  # one run, as JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.tasks, [int(c) for c in args.rain_shape.split(",")])))
        return
    names = args.only or list(SYSTEMS)
    load0 = os.getloadavg()
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    for run in range(args.runs):
        for name in names:
            result = run_apart(name, args)
            rates[name].append(result["rate"])
            cpus[name].append(result["cpu"])
            shares = ", ".join(f"{role} {us:.0f}" for role, us in result["parts"].items())
            log(f"run {run + 1} {name}: {result['rate']:,.0f} tasks/s, {result['cpu']:.0f} us CPU per task"
                + (f" ({shares})" if shares else ""))
    load1 = os.getloadavg()
    labels = {"rain": f"Rain (governors {args.rain_shape})", "ray": "Ray (num_cpus=2)",
              "dask": "Dask (2 workers x 1 thread)"}
    print(f"\n{args.tasks:,} trivial Python tasks on 2 CPUs, median of {args.runs} interleaved runs "
          "(CPU = all of the system's processes and its client, per task)")
    medians = {name: statistics.median(rates[name]) for name in names}
    for name in names:
        print(f"  {labels[name]:30} {medians[name]:8,.0f} tasks/s  (runs: {' '.join(f'{r:,.0f}' for r in rates[name])})"
              f"  CPU {statistics.median(cpus[name]):,.0f} us/task")
    if "rain" in medians:
        for peer, target in (("ray", 3.0), ("dask", None)):
            if peer in medians:
                ratio = medians["rain"] / medians[peer]
                verdict = f" (target >= {target}x: {'met' if ratio >= target else 'MISSED'})" if target else ""
                print(f"  Rain/{peer.capitalize()}: {ratio:.2f}x{verdict}")
        print(f"  Rain >= 4,000 tasks/s: {'met' if medians['rain'] >= 4000 else 'MISSED'}")
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f}")
    if args.plot:
        from plotting import bar_panels

        bar_panels(args.plot, f"{args.tasks:,} trivial Python tasks, 2 CPUs, median of {args.runs} runs",
                   [labels[n].split(" (")[0] for n in names],
                   [("throughput", "tasks/s", [medians[n] for n in names]),
                    ("CPU per task (all processes)", "us", [statistics.median(cpus[n]) for n in names])])


if __name__ == "__main__":
    main()
