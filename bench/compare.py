"""Rain vs Dask distributed and Ray core on the same workloads, in one run, printing ratios.

    python bench/compare.py [--quick] [--only rain|dask|ray] [--skip-million] [--dask-million] [--rain-tls]
        [--plot FILE.png]

Dask and Ray come from the bench environment only (`make bench-env`, then run with
.venv-bench/bin/python).

Workloads (sizes of a full run; --quick shrinks them for a smoke run):
  (a) 50,000 independent tiny tasks: Rain `tasks.Concat([src, src])` over one shared 1-byte blob;
      Dask `client.map(operator.add, xs, xs, pure=False)`; Ray `[add.remote(x, x) ...]` then `ray.get`
  (b) an FFT-like concat graph, 14 layers x 4,096 wide (57,344 tasks), the same graph on both
      (Dask: `client.scatter` of the first layer, then one `client.map` per layer over futures;
      Ray: `ray.put` of the first layer, then `add.remote(ref_a, ref_b)` per task)
  (c) single-task round trip, submit -> result, median and p95 over 200 repeats
      (Ray: `ray.get(add.remote(b"a", b"b"))`)
  (d) 1,000,000 tasks submitted in 20 batches of 50,000 independent concats into one session,
      then one wait for all: tasks/s and the server's peak RSS (VmHWM) per task.
      Rain always; Dask only with --dask-million (about 7 more minutes)
(a) and (b) run --runs times per shape (default 2) and the median is reported.
`--dask-api graph` gives Dask low-level graphs through `client.get` instead of the futures API;
it was slower here (and its scheduler needed about 3x the memory on (b)).

Cluster shapes (total CPUs = 2 on both sides): Rain one server + governors "2" (1 governor x 2 CPUs)
and "1,1" (2 governors x 1 CPU); Dask a scheduler process + `dask worker --nworkers N --nthreads T`,
"2x1" (2 worker processes x 1 thread) and "1x2". The scheduler runs in its own process like
Rain's server, so its memory and CPU are measured the same way (Ray: `ray.init(num_cpus=2)` in
this process, its GCS, raylet and workers measured together as its "workers" (`--dask-deploy local` uses
`LocalCluster(processes=True)`, whose scheduler lives in this process instead)). The better shape
of each system is compared. Dask runs with `distributed.scheduler.worker-saturation = inf`
(no root-task queuing; the default 1.1 was several times slower on these graphs here), change it
with --dask-worker-saturation.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import operator
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from local import cpu_seconds, local_rain, own_peak_rss_mb, peak_rss_mb

from rain.client import blob, tasks


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def fft_pairs(layers: int, width: int) -> list[list[tuple[int, int]]]:
    """For each layer, the two indices of the previous layer that each concat reads."""
    out = []
    for layer in range(layers):
        step = 1 << (layer % max(1, width.bit_length() - 1))
        out.append([(i, i ^ step if (i ^ step) < width else i) for i in range(width)])
    return out


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def summary(system: str, name: str, sizes: argparse.Namespace, runs_a: list[float], runs_b: list[float],
            server_cpu: float, workers_cpu: float, round_trip: tuple[float, float], peak_mb: float) -> dict[str, Any]:
    """One shape's result row, the same for both systems."""
    median, p95 = round_trip
    log(f"{system} {name}: (c) median {median:.2f} ms p95 {p95:.2f} ms")
    per_task = 1e6 / (sizes.runs * (sizes.independent + sizes.layers * sizes.width))
    return {"shape": name, "a": statistics.median(runs_a), "b": statistics.median(runs_b),
            "a_runs": runs_a, "b_runs": runs_b, "rt_median_ms": median, "rt_p95_ms": p95,
            "server_cpu_us_per_task_ab": server_cpu * per_task, "workers_cpu_us_per_task_ab": workers_cpu * per_task,
            "server_peak_rss_mb": peak_mb}


# --- Rain ---------------------------------------------------------------------------------------

def rain_independent(client, n: int) -> float:
    with client.new_session() as s:
        src = blob(b"x")
        ts = [tasks.Concat([src, src]) for _ in range(n)]
        start = time.perf_counter()
        s.submit()
        s.wait_all()
        elapsed = time.perf_counter() - start
        del ts
    return n / elapsed


def rain_fft(client, layers: int, width: int) -> float:
    with client.new_session() as s:
        level = [blob(b"%d" % i) for i in range(width)]
        for pairs in fft_pairs(layers, width):
            level = [tasks.Concat([level[a], level[b]]) for a, b in pairs]
        start = time.perf_counter()
        s.submit()
        s.wait_all()
        return layers * width / (time.perf_counter() - start)


def rain_round_trip(client, repeats: int) -> tuple[float, float]:
    times = []
    with client.new_session() as s:
        for _ in range(repeats):
            t = tasks.Concat([blob(b"a"), blob(b"b")])
            t.output.keep()
            start = time.perf_counter()
            s.submit()
            assert t.output.fetch().get_bytes() == b"ab"
            times.append(time.perf_counter() - start)
            t.output.unkeep()
    times.sort()
    return statistics.median(times) * 1000, percentile(times, 0.95) * 1000


def rain_million(client, server_pid: int, worker_pids: list[int], batches: int, batch: int) -> dict[str, float]:
    base_rss = rss_mb(server_pid)
    base_cpu = cpu_seconds(server_pid)
    base_wcpu = sum(cpu_seconds(p) for p in worker_pids)
    build = 0.0
    with client.new_session() as s:
        start = time.perf_counter()
        for _ in range(batches):
            b0 = time.perf_counter()
            src = blob(b"x")
            for _ in range(batch):
                tasks.Concat([src, src])
            build += time.perf_counter() - b0
            s.submit()
        submitted = time.perf_counter() - start
        s.wait_all()
        elapsed = time.perf_counter() - start
        peak = peak_rss_mb(server_pid)
        cpu = cpu_seconds(server_pid) - base_cpu
        wcpu = sum(cpu_seconds(p) for p in worker_pids) - base_wcpu
    n = batches * batch
    return {"tasks": n, "seconds": elapsed, "tasks_per_s": n / elapsed, "client_build_s": build,
            "all_submitted_s": submitted, "server_peak_rss_mb": peak, "server_idle_rss_mb": base_rss,
            "bytes_per_task": peak * 2**20 / n, "bytes_per_task_above_idle": (peak - base_rss) * 2**20 / n,
            "server_cpu_s": cpu, "workers_cpu_s": wcpu, "client_peak_rss_mb": own_peak_rss_mb()}


def run_rain(shape: list[int], sizes: argparse.Namespace) -> dict[str, Any]:
    name = ",".join(map(str, shape))
    log(f"rain {name}: starting")
    with local_rain(shape, server_args=sizes.server_args) as cluster:
        client = cluster.client()
        pid = cluster.server_process.pid
        gov_pids = [p.pid for p in cluster.governor_processes.values()]
        rain_independent(client, min(2000, sizes.independent))  # warm up
        cpu0 = cpu_seconds(pid)
        gcpu0 = sum(cpu_seconds(p) for p in gov_pids)
        runs_a, runs_b = [], []
        for _ in range(sizes.runs):
            runs_a.append(rain_independent(client, sizes.independent))
            runs_b.append(rain_fft(client, sizes.layers, sizes.width))
            log(f"rain {name}: (a) {runs_a[-1]:,.0f} tasks/s, (b) {runs_b[-1]:,.0f} tasks/s")
        server_cpu = cpu_seconds(pid) - cpu0
        gov_cpu = sum(cpu_seconds(p) for p in gov_pids) - gcpu0
        round_trip = rain_round_trip(client, sizes.repeats)
        return summary("rain", name, sizes, runs_a, runs_b, server_cpu, gov_cpu, round_trip, peak_rss_mb(pid))


def run_rain_million(shape: list[int], sizes: argparse.Namespace) -> dict[str, Any]:
    name = ",".join(map(str, shape))
    log(f"rain {name}: (d) {sizes.batches} x {sizes.batch:,} tasks")
    with local_rain(shape, server_args=sizes.server_args) as cluster:
        client = cluster.client()
        rain_independent(client, 1000)  # warm up, as in the other runs
        gc.collect()
        d = rain_million(client, cluster.server_process.pid,
                         [p.pid for p in cluster.governor_processes.values()], sizes.batches, sizes.batch)
    d["shape"] = name
    log(f"rain {name}: (d) {d['tasks_per_s']:,.0f} tasks/s, server peak {d['server_peak_rss_mb']:.0f} MB, "
        f"{d['bytes_per_task']:,.0f} B/task")
    return d


# --- Dask ---------------------------------------------------------------------------------------

class DaskFailed(Exception):
    """A Dask run that did not finish; args[0] holds what was measured."""


class DaskCluster:
    def __init__(self, client: Any, scheduler_pid: int) -> None:
        self.client = client
        self.scheduler_pid = scheduler_pid

    def worker_pids(self) -> list[int]:
        """The pids of the worker processes (not their nannies)."""
        return list(self.client.run(os.getpid).values())


def _wait_file(path: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{process.args[:4]} did not start")
        time.sleep(0.05)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(10)
            if sig == signal.SIGTERM:
                continue
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def dask_cluster(workers: int, threads: int, args: argparse.Namespace,
                 config: dict[str, str] | None = None) -> Iterator[DaskCluster]:
    """`config`: extra Dask settings ("a.b-c": value), for this process and the cluster's."""
    import dask
    from distributed import Client

    settings = {"distributed.scheduler.worker-saturation": args.dask_worker_saturation, **(config or {})}
    env = {**os.environ, **{"DASK_" + k.upper().replace(".", "__").replace("-", "_"): v for k, v in settings.items()}}
    settings["distributed.scheduler.worker-saturation"] = float(args.dask_worker_saturation)
    with dask.config.set(settings):
        if args.dask_deploy == "local":
            from distributed import LocalCluster
            with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                yield DaskCluster(client, os.getpid())
            return
        with tempfile.TemporaryDirectory(prefix="dask-bench-") as tmp:
            sched_file = os.path.join(tmp, "scheduler.json")
            logf = open(os.path.join(tmp, "dask.log"), "wb")  # noqa: SIM115 (outlives this block)
            scheduler = subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                 "--no-dashboard", "--scheduler-file", sched_file],
                env=env, stdout=logf, stderr=logf, start_new_session=True)
            worker = None
            try:
                _wait_file(sched_file, scheduler)
                worker = subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", sched_file,
                     "--nworkers", str(workers), "--nthreads", str(threads), "--no-dashboard",
                     "--local-directory", tmp],
                    env=env, stdout=logf, stderr=logf, start_new_session=True)
                client = Client(scheduler_file=sched_file, timeout=60)
                try:
                    client.wait_for_workers(workers, timeout=60)
                    yield DaskCluster(client, scheduler.pid)
                except BaseException:
                    logf.flush()
                    with open(logf.name, errors="replace") as f:
                        log("--- tail of the Dask processes' log:\n" + "".join(f.readlines()[-40:]))
                    raise
                finally:
                    client.close()
            finally:
                if worker is not None:
                    _kill_group(worker)
                _kill_group(scheduler)
                logf.close()


def dask_independent(client: Any, n: int, api: str) -> float:
    from distributed import wait

    if api == "map":
        xs = [b"x"] * n
        start = time.perf_counter()
        futures = client.map(operator.add, xs, xs, pure=False)
    else:
        dsk: dict[Any, Any] = {"src": b"x"}
        token = time.monotonic_ns()
        keys = [(f"c-{token}", i) for i in range(n)]
        for k in keys:
            dsk[k] = (operator.add, "src", "src")
        start = time.perf_counter()
        futures = client.get(dsk, keys, sync=False)
    wait(futures)
    elapsed = time.perf_counter() - start
    del futures
    return n / elapsed


def dask_fft(client: Any, layers: int, width: int, api: str) -> float:
    from distributed import wait

    if api == "map":
        start = time.perf_counter()
        level = client.scatter([b"%d" % i for i in range(width)])
        for pairs in fft_pairs(layers, width):
            level = client.map(operator.add, [level[a] for a, _ in pairs], [level[b] for _, b in pairs], pure=False)
        wait(level)
        elapsed = time.perf_counter() - start
        del level
        return layers * width / elapsed
    token = time.monotonic_ns()
    dsk: dict[Any, Any] = {(f"src-{token}", i): b"%d" % i for i in range(width)}
    prev = f"src-{token}"
    for layer, pairs in enumerate(fft_pairs(layers, width)):
        name = f"l{layer}-{token}"
        for i, (a, b) in enumerate(pairs):
            dsk[(name, i)] = (operator.add, (prev, a), (prev, b))
        prev = name
    keys = [(prev, i) for i in range(width)]
    start = time.perf_counter()
    futures = client.get(dsk, keys, sync=False)
    wait(futures)
    elapsed = time.perf_counter() - start
    del futures
    return layers * width / elapsed


def dask_round_trip(client: Any, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        assert client.submit(operator.add, b"a", b"b", pure=False).result() == b"ab"
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times) * 1000, percentile(times, 0.95) * 1000


def run_dask(shape: tuple[int, int], sizes: argparse.Namespace, args: argparse.Namespace) -> dict[str, Any]:
    name = f"{shape[0]}x{shape[1]}"
    log(f"dask {name}: starting")
    with dask_cluster(*shape, args) as dc:
        client = dc.client
        dask_independent(client, min(2000, sizes.independent), args.dask_api)  # warm up
        time.sleep(0.5)
        cpu0 = cpu_seconds(dc.scheduler_pid)
        wpids = dc.worker_pids()
        wcpu0 = sum(cpu_seconds(p) for p in wpids)
        runs_a, runs_b = [], []
        for _ in range(sizes.runs):
            runs_a.append(dask_independent(client, sizes.independent, args.dask_api))
            time.sleep(0.5)
            runs_b.append(dask_fft(client, sizes.layers, sizes.width, args.dask_api))
            time.sleep(0.5)
            log(f"dask {name}: (a) {runs_a[-1]:,.0f} tasks/s, (b) {runs_b[-1]:,.0f} tasks/s")
        sched_cpu = cpu_seconds(dc.scheduler_pid) - cpu0
        wcpu = sum(cpu_seconds(p) for p in wpids) - wcpu0
        round_trip = dask_round_trip(client, sizes.repeats)
        return summary("dask", name, sizes, runs_a, runs_b, sched_cpu, wcpu, round_trip,
                       peak_rss_mb(dc.scheduler_pid))


def run_dask_million(shape: tuple[int, int], sizes: argparse.Namespace, args: argparse.Namespace) -> dict[str, Any]:
    from distributed import wait

    name = f"{shape[0]}x{shape[1]}"
    log(f"dask {name}: (d) {sizes.batches} x {sizes.batch:,} tasks")
    # generous timeouts: with the default 30 s the workers dropped their scheduler connection
    # while its event loop was busy with the batches, and the run hung without workers
    patient = {"distributed.comm.timeouts.tcp": "600s", "distributed.comm.timeouts.connect": "600s"}
    with dask_cluster(*shape, args, patient) as dc:
        client, pid = dc.client, dc.scheduler_pid
        dask_independent(client, 1000, args.dask_api)
        time.sleep(0.5)
        base_rss, base_cpu = rss_mb(pid), cpu_seconds(pid)
        wpids = dc.worker_pids()
        base_wcpu = sum(cpu_seconds(p) for p in wpids)
        futures = []
        build = 0.0
        start = time.perf_counter()
        for k in range(sizes.batches):
            b0 = time.perf_counter()
            if args.dask_api == "map":
                xs = [b"x"] * sizes.batch
                build += time.perf_counter() - b0
                futures.extend(client.map(operator.add, xs, xs, pure=False))
                continue
            dsk: dict[Any, Any] = {f"src-{k}": b"x"}
            keys = [(f"m{k}", i) for i in range(sizes.batch)]
            for key in keys:
                dsk[key] = (operator.add, f"src-{k}", f"src-{k}")
            build += time.perf_counter() - b0
            futures.extend(client.get(dsk, keys, sync=False))
            del dsk, keys
        submitted = time.perf_counter() - start
        # poll (wait() with a timeout on 1M futures costs more than a short timeout) so that a
        # cluster that lost its workers or stalls ends the run instead of hanging it
        failure = None
        pending = futures
        while pending:
            time.sleep(1)
            pending = [f for f in pending if not f.done()]
            elapsed = time.perf_counter() - start
            if elapsed > args.dask_million_timeout:
                failure = f"not finished after {elapsed:.0f} s"
            elif not client.scheduler_info()["workers"]:
                failure = f"all workers lost after {elapsed:.0f} s"
            if failure:
                break
        if not failure:
            wait(futures)
        elapsed = time.perf_counter() - start
        peak, cpu = peak_rss_mb(pid), cpu_seconds(pid) - base_cpu
        wcpu = sum(cpu_seconds(p) for p in wpids) - base_wcpu
        n = sizes.batches * sizes.batch
        d = {"shape": name, "tasks": n, "seconds": elapsed, "tasks_per_s": n / elapsed, "client_build_s": build,
             "all_submitted_s": submitted, "server_peak_rss_mb": peak, "server_idle_rss_mb": base_rss,
             "bytes_per_task": peak * 2**20 / n, "bytes_per_task_above_idle": (peak - base_rss) * 2**20 / n,
             "server_cpu_s": cpu, "workers_cpu_s": wcpu, "client_peak_rss_mb": own_peak_rss_mb(), "failed": failure}
        if failure:
            done = sum(f.status == "finished" for f in futures)
            d["finished_tasks"] = done
            log(f"dask {name}: (d) FAILED: {failure}; {done:,} of {n:,} tasks finished")
            raise DaskFailed(d)
        del futures
    log(f"dask {name}: (d) {d['tasks_per_s']:,.0f} tasks/s, scheduler peak {d['server_peak_rss_mb']:.0f} MB, "
        f"{d['bytes_per_task']:,.0f} B/task")
    return d


# --- Ray ----------------------------------------------------------------------------------------

def _ray_add(a: bytes, b: bytes) -> bytes:
    return a + b


def ray_independent(ray: Any, add: Any, n: int) -> float:
    start = time.perf_counter()
    refs = [add.remote(b"x", b"x") for _ in range(n)]
    ray.wait(refs, num_returns=len(refs), fetch_local=False)
    elapsed = time.perf_counter() - start
    del refs
    return n / elapsed


def ray_fft(ray: Any, add: Any, layers: int, width: int) -> float:
    start = time.perf_counter()
    level = [ray.put(b"%d" % i) for i in range(width)]
    for pairs in fft_pairs(layers, width):
        level = [add.remote(level[a], level[b]) for a, b in pairs]
    ray.wait(level, num_returns=len(level), fetch_local=False)
    elapsed = time.perf_counter() - start
    del level
    return layers * width / elapsed


def ray_round_trip(ray: Any, add: Any, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        assert ray.get(add.remote(b"a", b"b")) == b"ab"
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times) * 1000, percentile(times, 0.95) * 1000


def run_ray(sizes: argparse.Namespace) -> dict[str, Any]:
    from peers import ray_cluster, ray_processes, tree_cpu_seconds

    log("ray 2: starting")
    with ray_cluster(2) as ray:
        add = ray.remote(_ray_add)
        ray_independent(ray, add, min(2000, sizes.independent))  # warm up (starts the workers)
        pids = ray_processes()
        cpu0, own0 = tree_cpu_seconds(pids), time.process_time()
        runs_a, runs_b = [], []
        for _ in range(sizes.runs):
            runs_a.append(ray_independent(ray, add, sizes.independent))
            runs_b.append(ray_fft(ray, add, sizes.layers, sizes.width))
            log(f"ray 2: (a) {runs_a[-1]:,.0f} tasks/s, (b) {runs_b[-1]:,.0f} tasks/s")
        workers_cpu = tree_cpu_seconds(pids) - cpu0
        driver_cpu = time.process_time() - own0
        round_trip = ray_round_trip(ray, add, sizes.repeats)
        # Ray has no separate server: its driver (this process, which also submits) stands in
        return summary("ray", "2", sizes, runs_a, runs_b, driver_cpu, workers_cpu, round_trip, float("nan"))


# --- report -------------------------------------------------------------------------------------

def best(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The shape with the better geometric mean of (a) and (b) throughput."""
    return max(results, key=lambda r: r["a"] * r["b"]) if results else None


def print_report(sizes: argparse.Namespace, rain: list[dict[str, Any]], dask: list[dict[str, Any]],
                 rain_m: dict[str, Any] | None, dask_m: dict[str, Any] | None,
                 ray: list[dict[str, Any]] | None = None) -> None:
    ray = ray or []

    def fmt_rate(v: float | None) -> str:
        return "-" if v is None else f"{v:,.0f} tasks/s"

    print()
    print(f"Per shape ((a), (b): median of {sizes.runs} runs; cpu = CPU time per task over all runs of (a) and (b), "
          "workers = governors, Dask workers or Ray's processes; Ray's 'server' is its driver):")
    print(f"  {'system':6} {'shape':5} {'(a) indep':>16} {'(b) fft':>16} {'(c) rt median':>14} {'(c) rt p95':>11} "
          f"{'server cpu/task':>16} {'workers cpu/task':>17} {'server peak':>12}")
    for sysname, rows in (("rain", rain), ("dask", dask), ("ray", ray)):
        for r in rows:
            print(f"  {sysname:6} {r['shape']:5} {fmt_rate(r['a']):>16} {fmt_rate(r['b']):>16} "
                  f"{r['rt_median_ms']:>11.2f} ms {r['rt_p95_ms']:>8.2f} ms {r['server_cpu_us_per_task_ab']:>13.0f} us "
                  f"{r['workers_cpu_us_per_task_ab']:>14.0f} us {r['server_peak_rss_mb']:>9.0f} MB")
    br, bd, by = best(rain), best(dask), best(ray)
    print()
    print(f"Best shape of each: Rain {br['shape'] if br else '-'} (governor CPUs), "
          f"Dask {bd['shape'] if bd else '-'} (workers x threads), Ray {by['shape'] if by else '-'} (num_cpus)")
    print(f"  {'workload':40} {'Rain':>16} {'Dask':>16} {'Ray':>16} {'Rain/Dask':>10} {'Rain/Ray':>9}  targets")

    def row(label: str, key: str, unit: str, targets: str, lower_better: bool = False) -> None:
        values = [r[key] if r else None for r in (br, bd, by)]

        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:,.2f} {unit}" if unit == "ms" else f"{v:,.0f} {unit}"

        def ratio(peer: float | None) -> str:
            rv = values[0]
            if rv is None or peer is None:
                return "-"
            return f"{(peer / rv) if lower_better else (rv / peer):.2f}x"

        print(f"  {label:40} {fmt(values[0]):>16} {fmt(values[1]):>16} {fmt(values[2]):>16} "
              f"{ratio(values[1]):>10} {ratio(values[2]):>9}  {targets}")

    row(f"(a) {sizes.independent:,} independent tasks", "a", "tasks/s", ">= 3x Dask")
    row(f"(b) fft {sizes.layers}x{sizes.width} ({sizes.layers * sizes.width:,} tasks)", "b", "tasks/s", ">= 3x Dask")
    row(f"(c) round trip median ({sizes.repeats} reps)", "rt_median_ms", "ms", "<= Dask; <= half of Ray (2x)",
        lower_better=True)
    row("(c) round trip p95", "rt_p95_ms", "ms", "", lower_better=True)
    for label, d in (("Rain", rain_m), ("Dask", dask_m)):
        if d is None:
            continue
        if d.get("failed"):
            print(f"(d) {label} {d['shape']}: {d['tasks']:,} tasks in {sizes.batches} submits of {sizes.batch:,}: "
                  f"FAILED ({d['failed']}); {d.get('finished_tasks', 0):,} tasks finished; server peak RSS "
                  f"{d['server_peak_rss_mb']:,.0f} MB, server CPU {d['server_cpu_s']:.1f} s")
            continue
        print(f"(d) {label} {d['shape']}: {d['tasks']:,} tasks in {sizes.batches} submits of {sizes.batch:,}: "
              f"{d['seconds']:.1f} s, {d['tasks_per_s']:,.0f} tasks/s "
              f"(all submitted after {d['all_submitted_s']:.1f} s, "
              f"{d['client_build_s']:.1f} s of it building the graph in the client); server peak RSS "
              f"{d['server_peak_rss_mb']:,.0f} MB (idle {d['server_idle_rss_mb']:.0f} MB) = "
              f"{d['bytes_per_task']:,.0f} B/task ({d['bytes_per_task_above_idle']:,.0f} B/task above idle), "
              f"server CPU {d['server_cpu_s']:.1f} s, governors/workers CPU {d['workers_cpu_s']:.1f} s; "
              f"client peak RSS {d['client_peak_rss_mb']:,.0f} MB"
              + ("  target < 2048 B/task: " + ("met" if d["bytes_per_task"] < 2048 else "MISSED")
                 if label == "Rain" else ""))
    if rain_m and dask_m and not dask_m.get("failed"):
        print(f"(d) Rain/Dask tasks/s: {rain_m['tasks_per_s'] / dask_m['tasks_per_s']:.2f}x; "
              f"server memory per task Dask/Rain: {dask_m['bytes_per_task'] / rain_m['bytes_per_task']:.2f}x")


def plot_compare(path: str, sizes: argparse.Namespace, rain: list[dict[str, Any]], dask: list[dict[str, Any]],
                 ray: list[dict[str, Any]]) -> None:
    """Bars of (a), (b) throughput and (c) round trip of each system's best shape."""
    from plotting import bar_panels

    systems = [(name, best(rows)) for name, rows in (("Rain", rain), ("Dask", dask), ("Ray", ray)) if rows]
    names = [f"{name} {r['shape']}" for name, r in systems if r]
    bar_panels(path, f"compare.py: 2 CPUs per system, median of {sizes.runs} runs", names, [
        (f"(a) {sizes.independent:,} independent tasks", "tasks/s", [r["a"] for _, r in systems if r]),
        (f"(b) FFT {sizes.layers}x{sizes.width}", "tasks/s", [r["b"] for _, r in systems if r]),
        ("(c) round trip, median", "ms (lower is better)", [r["rt_median_ms"] for _, r in systems if r]),
    ])
    log(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--only", choices=["rain", "dask", "ray"], action="append",
                        help="run only these systems (repeatable); default: all three")
    parser.add_argument("--skip-million", action="store_true", help="skip (d)")
    parser.add_argument("--runs", type=int, default=2, help="runs of (a) and (b) per shape; the median is reported")
    parser.add_argument("--dask-million", action="store_true", help="also run (d) on Dask (slow)")
    parser.add_argument("--rain-shapes", default="2;1,1", help="governor CPU lists separated by ';'")
    parser.add_argument("--dask-shapes", default="2x1;1x2", help="WORKERSxTHREADS separated by ';'")
    parser.add_argument("--million-shape", help="Rain shape for (d) (default: the best of (a)/(b))")
    parser.add_argument("--dask-api", choices=["map", "graph"], default="map",
                        help="how Dask gets the graphs: futures API or one low-level graph through client.get")
    parser.add_argument("--dask-deploy", choices=["cli", "local"], default="cli")
    parser.add_argument("--dask-worker-saturation", default="inf")
    parser.add_argument("--dask-million-timeout", type=float, default=900, help="seconds before Dask (d) gives up")
    parser.add_argument("--json", help="also write all figures to this file")
    parser.add_argument("--plot", help="draw (a), (b) and (c) of the best shapes into this PNG (matplotlib)")
    parser.add_argument("--rain-tls", action="store_true", help="Rain with `rain server --tls` (all ports encrypted)")
    args = parser.parse_args()

    if args.quick:
        sizes = argparse.Namespace(independent=5000, layers=8, width=512, repeats=50, batches=4, batch=25_000)
    else:
        sizes = argparse.Namespace(independent=50_000, layers=14, width=4096, repeats=200, batches=20, batch=50_000)
    sizes.runs = args.runs
    sizes.server_args = ("--tls",) if args.rain_tls else ()
    logging.getLogger("distributed").setLevel(logging.ERROR)

    t0 = time.perf_counter()
    rain: list[dict[str, Any]] = []
    dask: list[dict[str, Any]] = []
    ray: list[dict[str, Any]] = []
    rain_m = dask_m = None
    systems = set(args.only or ["rain", "dask", "ray"])
    if "rain" in systems:
        for spec in args.rain_shapes.split(";"):
            rain.append(run_rain([int(c) for c in spec.split(",")], sizes))
    if "dask" in systems:
        for spec in args.dask_shapes.split(";"):
            w, t = spec.split("x")
            dask.append(run_dask((int(w), int(t)), sizes, args))
    if "ray" in systems:
        ray.append(run_ray(sizes))
    if not args.skip_million:
        if "rain" in systems:
            shape = args.million_shape or (best(rain) or {"shape": "2"})["shape"]
            rain_m = run_rain_million([int(c) for c in shape.split(",")], sizes)
        if "dask" in systems and args.dask_million:
            bd = best(dask)
            w, t = (bd["shape"] if bd else "2x1").split("x")
            try:
                dask_m = run_dask_million((int(w), int(t)), sizes, args)
            except DaskFailed as exc:
                dask_m = exc.args[0]
    print_report(sizes, rain, dask, rain_m, dask_m, ray)
    if args.plot:
        plot_compare(args.plot, sizes, rain, dask, ray)
    load = os.getloadavg()
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; "
          f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sizes": vars(sizes), "rain": rain, "dask": dask, "ray": ray, "rain_million": rain_m,
                       "dask_million": dask_m, "args": vars(args), "loadavg": load}, f, indent=1)


if __name__ == "__main__":
    main()
