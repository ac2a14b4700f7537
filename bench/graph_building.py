"""Client graph building: microseconds per `tasks.Concat`, with Python's GC as the user has it.

    python bench/graph_building.py [--tasks 200000] [--runs 5]

Builds `--tasks` concats over one shared blob in an offline session (`Session(None, 1)`: no
server, so only the client's own work is timed), --runs times, and prints the median time per
task by the process clock (CPU time, steadier than the wall clock on a shared machine) and by
the wall clock, the number of objects per task that the cyclic GC tracks, and the same median
with the GC disabled for comparison (the library itself never changes the GC settings).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time

from rain.client import blob, tasks
from rain.client.session import Session


def build(n: int) -> tuple[float, float, float]:
    session = Session(None, 1)
    with session.bind_only():
        src = blob(b"x")
        gc.collect()
        tracked = len(gc.get_objects())
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            tasks.Concat([src, src])
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        gc.collect()
        tracked = (len(gc.get_objects()) - tracked) / n
    del session
    gc.collect()
    return cpu / n * 1e6, wall / n * 1e6, tracked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    load0 = os.getloadavg()
    on = [build(args.tasks) for _ in range(args.runs)]
    gc.disable()
    try:
        off = [build(args.tasks) for _ in range(args.runs)]
    finally:
        gc.enable()
    cpu = statistics.median(r[0] for r in on)
    print(f"{args.tasks:,} x tasks.Concat([src, src]), median of {args.runs} runs, GC thresholds {gc.get_threshold()}")
    print(f"  GC enabled:  {cpu:.2f} us per task CPU, {statistics.median(r[1] for r in on):.2f} us wall "
          f"(runs: {' '.join(f'{r[0]:.2f}' for r in on)})")
    print(f"  GC disabled: {statistics.median(r[0] for r in off):.2f} us per task CPU")
    print(f"  objects tracked by the GC per task: {on[0][2]:.1f}")
    print(f"  <= 10 us per Concat: {'met' if cpu <= 10 else 'MISSED'}")
    print(f"load average before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
