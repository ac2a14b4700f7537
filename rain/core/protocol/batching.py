"""Draining a memory channel into batches, without fixed timers.

After the first item arrives, the writer waits until every other task of the process is
blocked (the burst of work that produces items is over), bounded by a small delay, then takes
everything queued. Under load this turns thousands of tiny messages into a few large ones;
when idle the first item goes out as soon as the producer is done, adding no fixed latency.
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
    batch = [await receive.receive()]
    with trio.move_on_after(MAX_DELAY):
        await wait_all_tasks_blocked()
    while len(batch) < limit:
        try:
            batch.append(receive.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            break
    return batch
