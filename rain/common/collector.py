"""The cyclic garbage collector's settings for Rain's long-running processes.

The server and governors allocate many small, long-lived records, and an executor a few dozen
short-lived objects per call; with the default gen-0 threshold (700) the collector re-scans
them constantly (~25 % of the server's and governor's CPU per task in profiles, ~10 % of an
executor's per trivial call). Freezing what start-up made and collecting less often removes
most of that cost; cycles are still collected, only later.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 50, 100)


def settle_after_start_up() -> None:
    """Called once a process has imported and built what it keeps for its whole life."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
