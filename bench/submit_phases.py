"""The serial phases before a large graph runs: building it, submitting it, the first task.

    python bench/submit_phases.py [--tasks 5000] [--runs 5]

The graph of `python_tasks.py` (N independent `@remote` tasks `inc(i) -> str(i + 1).encode()`,
one 2-CPU governor, RAIN_DELETE_LIST_TIMEOUT=0), timed from the client by the wall clock:
  - build: the N calls (and `keep()` of the last output);
  - submit: `submit()`, encoding and sending the graph;
  - first run: from `submit()` returning until the first task's function runs in an executor
    (it notes the time in a file: the client's own wait would first queue behind the submit);
  - to first run: from the first call until then, the time the governor has nothing to do;
  - all: until `wait_all()` returns, and the rate over the whole run.
Medians of --runs runs after one warm-up run (which teaches the server the task type's duration).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from local import local_rain


def inc_noting_start(ctx: Any, i: int, note: str) -> bytes:
    if i == 0:
        with open(note, "w") as f:
            f.write(repr(time.time()))
    return str(i + 1).encode()


def run(client: Any, fn: Any, n: int, note: str) -> tuple[float, ...]:
    with client.new_session() as session:
        start = time.time()
        tasks = [fn(i, note) for i in range(n)]
        tasks[-1].output.keep()
        built = time.time()
        session.submit()
        submitted = time.time()
        session.wait_all()
        done = time.time()
    with open(note) as f:
        first = float(f.read())
    os.unlink(note)
    return ((built - start) * 1e3, (submitted - built) * 1e3, (first - submitted) * 1e3, (first - start) * 1e3,
            (done - start) * 1e3, n / (done - start))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from rain.client import remote

    fn = remote()(inc_noting_start)
    load0 = os.getloadavg()
    names = ("build", "submit", "first run", "to first run", "all")
    results = []
    with tempfile.TemporaryDirectory(prefix="rain-phases-") as tmp, \
            local_rain([2], {"RAIN_DELETE_LIST_TIMEOUT": "0"}) as cluster:
        client = cluster.client()
        note = os.path.join(tmp, "first")
        run(client, fn, 200, note)
        for _ in range(args.runs):
            results.append(run(client, fn, args.tasks, note))
            row = results[-1]
            print("  " + ", ".join(f"{name} {value:.0f} ms" for name, value in zip(names, row, strict=False))
                  + f"; {row[-1]:,.0f} tasks/s", file=sys.stderr, flush=True)
    medians = [statistics.median(column) for column in zip(*results, strict=True)]
    print(f"{args.tasks:,} @remote tasks, one 2-CPU governor, median of {args.runs} runs:")
    print("  " + ", ".join(f"{name} {value:.0f} ms" for name, value in zip(names, medians, strict=False))
          + f"; {medians[-1]:,.0f} tasks/s")
    print(f"load average before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
