"""Lost workers mid-graph: Rain against Dask distributed, in one run.

    python bench/chaos.py [--layers 14] [--width 4096] [--period 5] [--only rain|dask]

The FFT-like concat graph of compare.py (b) (14 layers x 4,096 wide, 57,344 tasks) on four
1-CPU workers, once without faults and once with one worker killed (SIGKILL) every `--period`
seconds and replaced:
- Rain: four `rain governor --cpus 1`; a killed governor is replaced by a new one.
- Dask: `dask worker --nworkers 4 --nthreads 1`; the worker process is killed, its nanny
  starts a new one (the scheduler reschedules or recomputes what it held).
Reported: tasks/s of both runs, their ratio, the number of kills, and for Rain the recovery
time of each kill: from the kill to the server's `GovernorLost` event (detection: the closed
connection) and the server's own time to take back the tasks and plan the recomputations.
A sample of the last layer is checked against the fault-free run's values. Dask comes from
the bench environment (`make bench-env`, then run with .venv-bench/bin/python).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from compare import dask_cluster, fft_pairs, log
from local import local_rain

from rain.client import blob, tasks

SAMPLE = 16  # outputs of the last layer compared with the fault-free run


class Killer:
    """Kills one worker every `period` seconds while the graph runs (a thread: the clients
    of both systems block while they wait)."""

    def __init__(self, period: float, kill_one: Callable[[], float | None]) -> None:
        self.period = period
        self.kill_one = kill_one
        self.kills: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                when = self.kill_one()
            except Exception as exc:  # a replacement that did not start: try again next period
                log(f"kill/replace failed: {exc}")
                continue
            if when is not None:
                self.kills.append(when)

    def __enter__(self) -> Killer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- Rain ---------------------------------------------------------------------------------------


def rain_fft(client: Any, layers: int, width: int) -> tuple[float, list[bytes]]:
    with client.new_session() as s:
        level = [blob(b"%d" % i) for i in range(width)]
        for pairs in fft_pairs(layers, width):
            level = [tasks.Concat([level[a], level[b]]).output for a, b in pairs]
        sample = level[:: max(1, width // SAMPLE)]
        for obj in sample:
            obj.keep()
        start = time.perf_counter()
        s.submit()
        s.wait_all()
        elapsed = time.perf_counter() - start
        return layers * width / elapsed, [obj.fetch().get_bytes() for obj in sample]


def rain_events(cluster: Any, kind: str) -> list[dict[str, Any]]:
    body = json.dumps({"event_types": [{"value": kind, "mode": "="}]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{cluster.http_port}/events", data=body,
                                     headers={"Authorization": f"Bearer {cluster.http_token()}"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return [{"time": e["time"], **e["event"]} for e in json.loads(r.read())]


def run_rain(args: argparse.Namespace) -> dict[str, Any]:
    with local_rain([1, 1, 1, 1]) as cluster:
        client = cluster.client()
        clean, expected = rain_fft(client, args.layers, args.width)
        log(f"rain fault-free: {clean:,.0f} tasks/s")

        def kill_one() -> float | None:
            live = [g for g in cluster.governor_ids if cluster.governor_processes[g].poll() is None]
            if not live:
                return None
            victim = random.choice(live)
            os.killpg(cluster.governor_processes[victim].pid, signal.SIGKILL)
            when = time.time()
            cluster.governor_ids.remove(victim)
            cluster.start_governor(1)
            return when

        with Killer(args.period, kill_one) as killer:
            chaos, values = rain_fft(client, args.layers, args.width)
        assert values == expected, "results differ from the fault-free run"
        time.sleep(1.5)  # the event log is written about once a second
        lost = [e for e in rain_events(cluster, "GovernorLost") if e.get("reason") == "its connection closed"]
        lost = lost[: len(killer.kills)]
        detect = [e["time"] - k for e, k in zip(lost, killer.kills, strict=False)]
        plan = [e.get("recovery_seconds", float("nan")) for e in lost]
        log(f"rain with kills: {chaos:,.0f} tasks/s, {len(killer.kills)} kills")
        return {"clean": clean, "chaos": chaos, "kills": len(killer.kills), "detect_s": detect, "plan_s": plan,
                "tasks_per_kill": [e.get("tasks") for e in lost], "objects_per_kill": [e.get("objects") for e in lost],
                "recomputed": len(rain_events(cluster, "ObjectRecomputed"))}


# --- Dask ---------------------------------------------------------------------------------------


def dask_fft(client: Any, layers: int, width: int) -> tuple[float, list[bytes]]:
    import operator

    from distributed import wait

    start = time.perf_counter()
    level = client.scatter([b"%d" % i for i in range(width)])
    for pairs in fft_pairs(layers, width):
        level = client.map(operator.add, [level[a] for a, _ in pairs], [level[b] for _, b in pairs], pure=False)
    wait(level)
    elapsed = time.perf_counter() - start
    sample = client.gather(level[:: max(1, width // SAMPLE)])
    del level
    return layers * width / elapsed, sample


def run_dask(args: argparse.Namespace) -> dict[str, Any]:
    options = argparse.Namespace(dask_worker_saturation="inf", dask_deploy="cli")
    with dask_cluster(4, 1, options) as dask:
        client = dask.client
        clean, expected = dask_fft(client, args.layers, args.width)
        log(f"dask fault-free: {clean:,.0f} tasks/s")

        def kill_one() -> float | None:
            pids = list(client.run(os.getpid).values())
            if not pids:
                return None
            os.kill(random.choice(pids), signal.SIGKILL)
            return time.time()

        with Killer(args.period, kill_one) as killer:
            try:
                chaos, values = dask_fft(client, args.layers, args.width)
            except Exception as exc:  # e.g. KilledWorker when a task's workers die too often
                log(f"dask with kills failed: {type(exc).__name__}: {exc}")
                return {"clean": clean, "chaos": None, "kills": len(killer.kills), "error": repr(exc)}
        same = values == expected
        log(f"dask with kills: {chaos:,.0f} tasks/s, {len(killer.kills)} kills, results equal: {same}")
        return {"clean": clean, "chaos": chaos, "kills": len(killer.kills), "same": same}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=14)
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--period", type=float, default=5.0, help="seconds between two kills")
    parser.add_argument("--only", choices=["rain", "dask"], action="append")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    random.seed(args.seed)
    results: dict[str, Any] = {}
    if not args.only or "rain" in args.only:
        results["rain"] = run_rain(args)
    if not args.only or "dask" in args.only:
        results["dask"] = run_dask(args)
    print(f"FFT graph {args.layers} x {args.width} ({args.layers * args.width:,} tasks), 4 x 1-CPU workers, "
          f"one killed every {args.period:g} s")
    for system, r in results.items():
        chaos = f"{r['chaos']:,.0f}" if r.get("chaos") else "failed"
        ratio = f"{r['chaos'] / r['clean']:.2f}" if r.get("chaos") else "-"
        print(f"  {system:5} fault-free {r['clean']:>8,.0f} tasks/s   with kills {chaos:>8} tasks/s   "
              f"ratio {ratio}   kills {r['kills']}")
    rain = results.get("rain")
    if rain and rain["detect_s"]:
        detect = statistics.median(rain["detect_s"]) * 1e3
        print(f"  rain recovery per kill: kill -> GovernorLost median {detect:.0f} ms "
              f"(max {max(rain['detect_s']) * 1e3:.0f} ms); server time to take back tasks and plan recomputation "
              f"median {statistics.median(rain['plan_s']) * 1e3:.1f} ms (max {max(rain['plan_s']) * 1e3:.1f} ms); "
              f"tasks taken back per kill {rain['tasks_per_kill']}, objects lost per kill {rain['objects_per_kill']}, "
              f"ObjectRecomputed events {rain['recomputed']}")
    print(json.dumps(results, default=float), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
