"""Draining a memory channel into batches, without fixed timers.

A writer that was idle (its channel empty) sends what wakes it at once, with whatever else is
queued by then: a lone message, such as the one reply a client waits for, costs no extra turn
of the event loop. A burst of work queues its items before the writer runs again (handlers
never await), so it still leaves as one batch. Items that were already waiting when the writer
comes back from a send mean a sustained burst: the writer then waits until every other task
of the process is blocked (the burst is over), bounded by a small delay, and takes everything
queued. Under load this turns thousands of tiny messages into a few large ones.
"""

from __future__ import annotations

from typing import TypeVar

import trio
from trio.testing import wait_all_tasks_blocked

T = TypeVar("T")

MAX_BATCH = 8192
MAX_DELAY = 0.002


async def receive_batch(receive: trio.MemoryReceiveChannel[T], limit: int = MAX_BATCH) -> list[T]:
    """The next batch: at least one item; raises EndOfChannel when the channel is closed."""
    try:
        batch = [receive.receive_nowait()]
    except trio.WouldBlock:
        batch = [await receive.receive()]  # idle until now: no reason to wait for more
    else:
        with trio.move_on_after(MAX_DELAY):
            await wait_all_tasks_blocked()
    while len(batch) < limit:
        try:
            batch.append(receive.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            break
    return batch
