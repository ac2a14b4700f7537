"""Throughput and latency of the core: independent concats, an FFT-like graph, round trips.

    python bench/throughput.py [--tasks 10000] [--layers 10] [--width 1024] [--governors 1,2]
"""

from __future__ import annotations

import argparse
import statistics
import time

from local import local_rain, peak_rss_mb

from rain.client import blob, tasks


def independent(client, n: int) -> float:
    with client.new_session() as s:
        src = blob(b"x")
        ts = [tasks.Concat([src, src]) for _ in range(n)]
        start = time.perf_counter()
        s.submit()
        s.wait_all()
        elapsed = time.perf_counter() - start
        assert len(ts) == n
    return n / elapsed


def fft_like(client, layers: int, width: int) -> float:
    with client.new_session() as s:
        level = [blob(b"%d" % i) for i in range(width)]
        count = 0
        for layer in range(layers):
            step = 1 << (layer % max(1, width.bit_length() - 1))
            level = [tasks.Concat([level[i], level[i ^ step if (i ^ step) < width else i]]) for i in range(width)]
            count += width
        start = time.perf_counter()
        s.submit()
        s.wait_all()
        return count / (time.perf_counter() - start)


def round_trip(client, repeats: int = 200) -> tuple[float, float]:
    times = []
    with client.new_session() as s:
        for _ in range(repeats):
            t = tasks.Concat([blob(b"a"), blob(b"b")])
            t.output.keep()
            start = time.perf_counter()
            s.submit()
            t.output.fetch()
            times.append(time.perf_counter() - start)
            t.output.unkeep()
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.95)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--governors", default="1,2", help="comma-separated governor counts to try")
    parser.add_argument("--cpus", type=int, default=1, help="cpus per governor")
    args = parser.parse_args()
    for n_gov in [int(x) for x in args.governors.split(",")]:
        with local_rain([args.cpus] * n_gov) as cluster:
            client = cluster.client()
            independent(client, 1000)  # warm up
            a = independent(client, args.tasks)
            b = fft_like(client, args.layers, args.width)
            median, p95 = round_trip(client)
            rss = peak_rss_mb(cluster.server_process.pid)
            print(f"governors={n_gov} cpus/governor={args.cpus}: independent {args.tasks} concats: {a:,.0f} tasks/s; "
                  f"fft {args.layers}x{args.width}: {b:,.0f} tasks/s; round trip median {median:.2f} ms "
                  f"(p95 {p95:.2f} ms); server peak RSS {rss:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
