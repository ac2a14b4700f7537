"""Peers of Rain in the benchmarks: Ray core started in this process, CPU time of process trees.

Only the bench environment has Ray, Dask and HyperQueue (`make bench-env`); the Rain figures
do not need them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from local import cpu_seconds


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (Ray's GCS, raylet and workers run below the driver)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def tree_cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            pass
    return total


@contextmanager
def ray_cluster(cpus: int = 2) -> Iterator[Any]:
    """`ray.init(num_cpus=cpus)` in this process (the driver), no dashboard; shut down after."""
    import ray

    logging.getLogger("ray").setLevel(logging.ERROR)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    ray.init(num_cpus=cpus, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        time.sleep(0.5)


def ray_processes() -> list[int]:
    """Ray's own processes (GCS, raylet, workers): this process's descendants."""
    return descendants(os.getpid())
