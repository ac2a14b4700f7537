"""Throughput of trivial Python tasks: Rain (`@remote`) on 1 and 2 local governors, and Dask.

Each run submits N independent tasks `inc(ctx, i) -> str(i + 1)` at once and waits for all of
them; the time covers building the graph, submitting, scheduling, running and the completion
notice. Processes are started through the `rain` CLI like a user would. Each configuration
first runs a small warm-up batch so executor/worker start-up is not counted.

    python bench/python_tasks.py [--tasks 5000] [--repeat 3] [--cpus-per-governor 1] [--no-dask]

Dask distributed is measured with the same workload (client.map, one single-threaded worker
process per governor) when it is importable.
"""

from __future__ import annotations

import argparse
import os
import time

from local import local_rain


def inc_body(ctx, i):
    return str(i + 1)


def bench_rain(governors: int, cpus: int, n: int, repeat: int) -> list[float]:
    from rain.client import remote

    inc = remote(inc_body)
    with local_rain([cpus] * governors, {"RAIN_DELETE_LIST_TIMEOUT": "0"}) as cluster:
        client = cluster.client()
        rates = []
        for run in range(repeat + 1):
            count = 200 if run == 0 else n  # run 0 warms up the executors
            with client.new_session() as s:
                start = time.perf_counter()
                last = [inc(i) for i in range(count)][-1]
                last.output.keep()
                s.submit()
                s.wait_all()
                elapsed = time.perf_counter() - start
                assert last.output.fetch().get_str() == str(count)
            if run:
                rates.append(count / elapsed)
        client.close()
        return rates


def bench_dask(workers: int, cpus: int, n: int, repeat: int) -> list[float] | None:
    try:
        from dask.distributed import Client, LocalCluster, wait
    except ImportError:
        return None
    import logging

    logging.getLogger("distributed").setLevel(logging.ERROR)
    with LocalCluster(n_workers=workers, threads_per_worker=cpus, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        rates = []
        for run in range(repeat + 1):
            count = 200 if run == 0 else n
            start = time.perf_counter()
            # pure=False: every run really executes (no result reuse across runs)
            futures = client.map(lambda i: str(i + 1), range(count), pure=False)
            wait(futures)
            elapsed = time.perf_counter() - start
            assert futures[-1].result() == str(count)
            del futures
            if run:
                rates.append(count / elapsed)
        return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpus-per-governor", type=int, default=1)
    parser.add_argument("--governors", default="1,2", help="comma-separated governor counts")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    print(f"{args.tasks} trivial Python tasks, {args.cpus_per_governor} CPU(s) per governor/worker, "
          f"best of {args.repeat} (machine: {os.cpu_count()} CPUs)")
    for governors in (int(g) for g in args.governors.split(",")):
        rates = bench_rain(governors, args.cpus_per_governor, args.tasks, args.repeat)
        runs = ", ".join(f"{r:.0f}" for r in rates)
        print(f"rain  {governors} governor(s): {max(rates):8.0f} tasks/s  (runs: {runs})",
              flush=True)
        if not args.no_dask:
            drates = bench_dask(governors, args.cpus_per_governor, args.tasks, args.repeat)
            if drates is None:
                print("dask  not installed (pip install dask distributed)")
            else:
                print(f"dask  {governors} worker(s):   {max(drates):8.0f} tasks/s  "
                      f"(runs: {', '.join(f'{r:.0f}' for r in drates)})", flush=True)


if __name__ == "__main__":
    main()
