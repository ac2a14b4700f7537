"""Single-task round trips, Rain against Ray core and Dask, interleaved in one run.

    python bench/round_trip.py [--rounds 10] [--repeats 50] [--only rain|ray|dask ...] [--plot FILE.png]

One task whose result the caller waits for, again and again:
  - Rain: `tasks.Concat([blob(b"a"), blob(b"b")])` with its output kept, `submit()` then
    `output.fetch()`, on one governor with 2 CPUs (compare.py's (c)).
  - Ray: `ray.get(add.remote(b"a", b"b"))`, `ray.init(num_cpus=2)` in this process.
  - Dask: `client.submit(operator.add, b"a", b"b", pure=False).result()` on
    `LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`.
All three are up at once; each round runs --repeats round trips on every system in turn, so a
change of the machine's load falls on all of them alike. Each system's client runs in a process
of its own, as it would for its users: in one process, the background threads of Ray's driver
and Dask's client take the GIL from whichever client is waking up from its socket. The median
and p95 of all round trips of each system are reported, with the ratio to Rain.

Then, for Rain, the hops: wake-ups (voluntary context switches, from /proc) of the server, the
governor and the client per round trip over --repeats more round trips. These count whatever
the machine's load, where the times do not.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import operator
import os
import statistics
import sys
import time
from contextlib import ExitStack
from multiprocessing.connection import Connection

from local import local_rain

from rain.client import blob, tasks


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Rain:
    def __init__(self, stack: ExitStack) -> None:
        self.cluster = stack.enter_context(local_rain([2]))
        self.client = self.cluster.client()
        self.session = stack.enter_context(self.client.new_session())

    def wakeups(self, repeats: int) -> dict[str, float]:
        """Voluntary context switches per round trip of each process (all its threads)."""
        pids = {"server": self.cluster.server_process.pid, "client": os.getpid(),
                "governor": next(iter(self.cluster.governor_processes.values())).pid}
        before = {name: _switches(pid) for name, pid in pids.items()}
        for _ in range(repeats):
            self.once()
        return {name: (_switches(pid) - before[name]) / repeats for name, pid in pids.items()}

    def once(self) -> None:
        t = tasks.Concat([blob(b"a"), blob(b"b")], session=self.session)
        t.output.keep()
        self.session.submit()
        assert t.output.fetch().get_bytes() == b"ab"
        t.output.unkeep()


def _switches(pid: int) -> int:
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            total += sum(int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches"))
    return total


class Ray:
    def __init__(self, stack: ExitStack) -> None:
        from peers import ray_cluster

        self.ray = stack.enter_context(ray_cluster(2))
        def add(a: bytes, b: bytes) -> bytes:  # nested: pickled by value (this module is __mp_main__ here)
            return a + b

        self.add = self.ray.remote(add)

    def once(self) -> None:
        assert self.ray.get(self.add.remote(b"a", b"b")) == b"ab"


class Dask:
    def __init__(self, stack: ExitStack) -> None:
        from dask.distributed import Client, LocalCluster

        logging.getLogger("distributed").setLevel(logging.ERROR)
        cluster = stack.enter_context(LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                   dashboard_address=None))
        self.client = stack.enter_context(Client(cluster))

    def once(self) -> None:
        assert self.client.submit(operator.add, b"a", b"b", pure=False).result() == b"ab"


SYSTEMS = {"rain": Rain, "ray": Ray, "dask": Dask}


def serve_system(name: str, conn: Connection) -> None:
    """A child process: starts one system, then runs the round trips the parent asks for."""
    with ExitStack() as stack:
        system = SYSTEMS[name](stack)
        for _ in range(20):  # warm up
            system.once()
        conn.send("ready")
        while (order := conn.recv()) is not None:
            kind, repeats = order
            if kind == "wakeups":
                conn.send(system.wakeups(repeats))
                continue
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                system.once()
                times.append((time.perf_counter() - start) * 1e3)
            conn.send(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50, help="round trips per system in each round")
    parser.add_argument("--only", choices=sorted(SYSTEMS), action="append")
    parser.add_argument("--plot", help="draw the medians into this PNG")
    args = parser.parse_args()
    names = args.only or list(SYSTEMS)
    load0 = os.getloadavg()
    times: dict[str, list[float]] = {name: [] for name in names}
    context = multiprocessing.get_context("spawn")
    conns: dict[str, Connection] = {}
    children = []
    try:
        for name in names:
            log(f"starting {name}")
            conns[name], child_end = context.Pipe()
            child = context.Process(target=serve_system, args=(name, child_end))  # Dask starts processes of its own
            child.start()
            children.append(child)
            if conns[name].recv() != "ready":
                raise RuntimeError(f"{name} did not start")
        for rnd in range(args.rounds):
            for name in names:
                conns[name].send(("times", args.repeats))
                times[name] += conns[name].recv()
            log(f"round {rnd + 1}: " + ", ".join(f"{n} {statistics.median(times[n][-args.repeats:]):.2f} ms"
                                                 for n in names))
        wakeups = None
        if "rain" in conns:
            conns["rain"].send(("wakeups", args.repeats))
            wakeups = conns["rain"].recv()
        for conn in conns.values():
            conn.send(None)
    finally:
        for child in children:
            child.join(timeout=15)
            if child.is_alive():
                child.terminate()
    load1 = os.getloadavg()
    medians = {name: statistics.median(times[name]) for name in names}
    print(f"\nsingle-task round trip, {args.rounds} interleaved rounds x {args.repeats} per system")
    for name in names:
        ordered = sorted(times[name])
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        ratio = f"  {medians[name] / medians['rain']:.2f}x Rain's" if "rain" in medians and name != "rain" else ""
        print(f"  {name:5} median {medians[name]:7.2f} ms  p95 {p95:7.2f} ms{ratio}")
    if "rain" in medians and "ray" in medians:
        met = medians["rain"] <= medians["ray"] / 2
        print(f"  Rain <= half of Ray's median: {'met' if met else 'MISSED'}")
    if wakeups is not None:
        print("  Rain wake-ups per round trip: " + ", ".join(f"{name} {n:.2f}" for name, n in wakeups.items()))
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f}")
    if args.plot:
        from plotting import bar_panels

        bar_panels(args.plot, f"single-task round trip, median of {args.rounds * args.repeats}",
                   [n.capitalize() for n in names],
                   [("round trip", "ms (lower is better)", [medians[n] for n in names])])


if __name__ == "__main__":
    main()
