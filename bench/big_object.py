"""A 1 GB object moved between two workers and to the client: Rain, Dask and Ray side by side.

    python bench/big_object.py [--mb 1000] [--runs 2] [--only rain|dask|ray ...] [--plot FILE.png]

Rain: governor A (1 CPU) runs `head -c N /dev/zero` with `stdout=True`; a consumer `wc -c`
with the object on stdin asks for 2 CPUs, so only governor B (2 CPUs) can run it and the
object travels A -> B over the governors' data ports (sendfile, then recv_into into a file);
then the client fetches it with `fetch(path=...)` straight into a file, and with `fetch()`
into memory. Peak RSS (VmHWM) of both governors and of the client show whether memory stays
flat, and the CPU time each Rain process spent per GB moved shows what the rate would be with
a CPU to itself (on a loaded machine the wall-clock rate mostly measures waiting for a CPU).
Dask (bench environment): `client.scatter(data, workers=[A])`, then a task on worker B that
takes it (A -> B), then `gather` of that task's result (B -> client).
Ray (bench environment): a task on one worker returns the object (into Ray's shared-memory
object store), a task on another worker takes it, then `ray.get` in the driver. On one node
Ray's workers and driver read the object from shared memory, so nothing travels over a socket.
Each system runs --runs times, interleaved; medians are reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from local import cpu_seconds, local_rain, own_peak_rss_mb, peak_rss_mb, rss_mb

from rain.client import tasks


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rain_runs(size: int, runs: int) -> dict[str, Any]:
    rates: dict[str, list[float]] = {"peer": [], "to file": [], "to memory": []}
    cpu: dict[str, list[float]] = {"peer": [], "to file": []}  # CPU seconds per GB: sender + receiver
    with local_rain([1, 2]) as cluster, tempfile.TemporaryDirectory(prefix="big-", dir=".") as tmp:
        client = cluster.client()
        cpus = dict(zip(cluster.governor_ids, [1, 2], strict=False))
        pids = {f"governor {'A' if cpus[gid] == 1 else 'B'}": p.pid for gid, p in cluster.governor_processes.items()}
        idle = {name: rss_mb(pid) for name, pid in pids.items()}
        client_memory = 0.0
        for run in range(runs):
            with client.new_session() as s:
                producer = tasks.Execute(f"head -c {size} /dev/zero", stdout=True, name="produce")
                consumer = tasks.Execute("wc -c", stdin=producer.output, stdout=True, cpus=2, name="consume")
                producer.output.keep()
                consumer.output.keep()
                s.submit()
                s.wait([producer])
                produced = time.perf_counter()
                cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
                s.wait([consumer])
                rates["peer"].append(size / (time.perf_counter() - produced))
                cpu["peer"].append(sum(cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()) / size * 1e9)
                assert int(consumer.output.fetch().get_bytes().split()[0]) == size
                s.update([producer, consumer])
                assert producer.info.governor != consumer.info.governor, "nothing moved between governors"
                target = os.path.join(tmp, "object")
                before = own_peak_rss_mb()
                cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
                own0 = time.process_time()
                start = time.perf_counter()
                producer.output.fetch(path=target)
                rates["to file"].append(size / (time.perf_counter() - start))
                cpu["to file"].append((sum(cpu_seconds(pid) - cpu0[name] for name, pid in pids.items())
                                       + time.process_time() - own0) / size * 1e9)
                assert os.path.getsize(target) == size
                client_memory = max(client_memory, own_peak_rss_mb() - before)
                os.unlink(target)
                if run == runs - 1:  # last: into memory (raises the client's peak for good)
                    start = time.perf_counter()
                    data = producer.output.fetch().get_bytes()
                    rates["to memory"].append(size / (time.perf_counter() - start))
                    assert len(data) == size
                    del data
            log(f"rain run {run + 1}: A->B {rates['peer'][-1] / 1e6:,.0f} MB/s ({cpu['peer'][-1]:.2f} CPU s/GB), "
                f"to file {rates['to file'][-1] / 1e6:,.0f} MB/s ({cpu['to file'][-1]:.2f} CPU s/GB)")
        peaks = {name: peak_rss_mb(pid) - idle[name] for name, pid in pids.items()}
    return {"rates": rates, "memory": {**peaks, "client (fetch to file)": client_memory}, "cpu": cpu}


def dask_runs(size: int, runs: int) -> dict[str, Any]:
    import logging

    from dask.distributed import Client, LocalCluster, wait

    logging.getLogger("distributed").setLevel(logging.ERROR)
    rates: dict[str, list[float]] = {"peer": [], "to memory": []}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=0) as cluster, Client(cluster) as client:
        a, b = sorted(client.scheduler_info()["workers"])
        for run in range(runs):
            data = b"\0" * size
            [fut] = client.scatter([data], workers=[a], broadcast=False)
            del data
            client.wait_for_workers(2)
            start = time.perf_counter()
            moved = client.submit(lambda x: x, fut, workers=[b], allow_other_workers=False, pure=False)
            wait(moved)
            rates["peer"].append(size / (time.perf_counter() - start))
            start = time.perf_counter()
            result = moved.result()
            rates["to memory"].append(size / (time.perf_counter() - start))
            assert len(result) == size
            del result, moved, fut
            log(f"dask run {run + 1}: A->B {rates['peer'][-1] / 1e6:,.0f} MB/s, "
                f"to client {rates['to memory'][-1] / 1e6:,.0f} MB/s")
    return {"rates": rates}


def ray_runs(size: int, runs: int) -> dict[str, Any]:
    from peers import ray_cluster

    rates: dict[str, list[float]] = {"peer": [], "to memory": []}
    with ray_cluster(2) as ray:
        @ray.remote
        def make(n: int) -> bytes:
            return b"\0" * n

        @ray.remote
        def length(x: bytes) -> int:
            return len(x)

        for run in range(runs):
            ref = make.remote(size)
            ray.wait([ref], fetch_local=False)
            start = time.perf_counter()
            assert ray.get(length.remote(ref)) == size
            rates["peer"].append(size / (time.perf_counter() - start))
            start = time.perf_counter()
            data = ray.get(ref)
            rates["to memory"].append(size / (time.perf_counter() - start))
            assert len(data) == size
            del data, ref
            log(f"ray run {run + 1}: worker->worker {rates['peer'][-1] / 1e6:,.0f} MB/s, "
                f"to driver {rates['to memory'][-1] / 1e6:,.0f} MB/s")
    return {"rates": rates}


RUNS = {"rain": rain_runs, "dask": dask_runs, "ray": ray_runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=1000, help="object size in MB (10^6 bytes)")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--only", choices=sorted(RUNS), action="append")
    parser.add_argument("--plot", help="draw the medians into this PNG")
    args = parser.parse_args()
    size = args.mb * 1_000_000
    names = args.only or ["rain", "dask", "ray"]
    load0 = os.getloadavg()
    results = {name: RUNS[name](size, args.runs) for name in names}
    load1 = os.getloadavg()
    print(f"\nobject of {args.mb:,} MB, median of {args.runs} runs (MB/s = 10^6 bytes per second)")
    labels = {"peer": "worker -> worker", "to file": "-> client, into a file", "to memory": "-> client, into memory"}
    for name, result in results.items():
        for key, values in result["rates"].items():
            if values:
                print(f"  {name:5} {labels[key]:24} {statistics.median(values) / 1e6:8,.0f} MB/s  "
                      f"(runs: {' '.join(f'{v / 1e6:,.0f}' for v in values)})")
        for key, values in result.get("cpu", {}).items():
            print(f"  {name:5} {labels[key]:24} {statistics.median(values):8.2f} CPU s per GB (both ends: "
                  f"{1 / statistics.median(values):,.1f} GB per CPU-second)")
        for who, mb in result.get("memory", {}).items():
            print(f"  {name:5} peak RSS above idle, {who:24} {mb:6,.0f} MB")
    if "rain" in results:
        rain = results["rain"]["rates"]
        ok = all(statistics.median(rain[k]) >= 1e9 for k in ("peer", "to file"))
        print(f"  Rain >= 1 GB/s governor->governor and governor->client file: {'met' if ok else 'MISSED'}")
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f}")
    if args.plot:
        from plotting import bar_panels

        panels = []
        for key in ("peer", "to file", "to memory"):
            have = [n for n in names if results[n]["rates"].get(key)]
            if have:
                panels.append((labels[key], "MB/s", [statistics.median(results[n]["rates"][key]) / 1e6 for n in have],
                               [n.capitalize() for n in have]))
        bar_panels(args.plot, f"{args.mb:,} MB object, median of {args.runs} runs",
                   [n.capitalize() for n in names], panels)


if __name__ == "__main__":
    main()
