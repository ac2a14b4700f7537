"""Periodic samples of the governor's node and store, sent to the server for monitoring.

CPU and memory are read from /proc (Linux), for the whole node: tasks run in executors and
programs, not in the governor process, so the node is what a user wants to see. Elsewhere the
sample carries None. One small message per period per governor; nothing per task.
"""

from __future__ import annotations

import trio

from rain.core.governor.store import ObjectStore
from rain.core.protocol import messages as m
from rain.core.protocol.stream import MessageStream

STATS_PERIOD = 1.0


def read_cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest times are already included in user and nice
    return total - idle, total


def read_memory() -> tuple[int | None, int | None]:
    """(used, total) bytes of the node; used = total - available."""
    values: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in ("MemTotal", "MemAvailable"):
                    values[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None, None
    total, available = values.get("MemTotal"), values.get("MemAvailable")
    if total is None or available is None:
        return None, total
    return total - available, total


def cpu_percent(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(100.0 * (after[0] - before[0]) / (after[1] - before[1]), 1)


async def serve_stats(conn: MessageStream, store: ObjectStore, period: float = STATS_PERIOD) -> None:
    """Sends a `GovernorStats` every `period` seconds until cancelled. A broken connection
    raises here for the governor's main loop to report: the socket tells its error to the first
    call that meets it (a dead link found by TCP_USER_TIMEOUT, often this send), and the reader
    then only sees the end of the stream."""
    before = read_cpu_times()
    while True:
        await trio.sleep(period)
        after = read_cpu_times()
        used, total = read_memory()
        sample = m.GovernorStats(cpu_percent(before, after), used, total, len(store.objects),
                                 store.stored_bytes, store.received_bytes)
        await conn.send(sample)
        before = after
