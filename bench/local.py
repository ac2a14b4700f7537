"""Local Rain processes for benchmarks: a server and N governors started through the CLI."""

from __future__ import annotations

import os
import resource
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.cluster import Cluster


@contextmanager
def local_rain(governor_cpus: list[int], env: dict[str, str] | None = None,
               server_args: tuple[str, ...] = ()) -> Iterator[Cluster]:
    """The access file (and a --tls pair) lives in the temporary directory, not in ~/.rain."""
    with tempfile.TemporaryDirectory(prefix="rain-bench-") as tmp:
        cluster = Cluster(tmp, env)
        try:
            cluster.start_server(*server_args)
            for cpus in governor_cpus:
                cluster.start_governor(cpus)
            yield cluster
        finally:
            cluster.close()


def _status_mb(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size of a live process (VmHWM), in MB."""
    return _status_mb(pid, "VmHWM:")


def rss_mb(pid: int) -> float:
    """Current resident set size of a live process (VmRSS), in MB."""
    return _status_mb(pid, "VmRSS:")


def own_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
