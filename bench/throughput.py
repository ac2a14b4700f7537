"""Throughput and latency of the core: independent concats, an FFT-like graph, round trips.

    python bench/throughput.py [--tasks 10000] [--layers 10] [--width 1024] [--governors 1,2]
"""

from __future__ import annotations

import argparse

from compare import rain_fft, rain_independent, rain_round_trip
from local import local_rain, peak_rss_mb


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
            rain_independent(client, 1000)  # warm up
            a = rain_independent(client, args.tasks)
            b = rain_fft(client, args.layers, args.width)
            median, p95 = rain_round_trip(client, 200)
            rss = peak_rss_mb(cluster.server_process.pid)
            print(f"governors={n_gov} cpus/governor={args.cpus}: independent {args.tasks} concats: {a:,.0f} tasks/s; "
                  f"fft {args.layers}x{args.width}: {b:,.0f} tasks/s; round trip median {median:.2f} ms "
                  f"(p95 {p95:.2f} ms); server peak RSS {rss:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
