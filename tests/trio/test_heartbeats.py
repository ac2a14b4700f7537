"""The server declares a governor lost once no message came for the heartbeat timeout, counted
from the last message: messages only note their time, a watcher task does the counting."""

from __future__ import annotations

import trio

from rain.core.server.connections import _watch_heartbeats
from rain.core.server.server import Server


async def test_the_watchdog_fires_a_timeout_after_the_last_message_not_before(autojump_clock):
    server = Server(heartbeat_timeout=10.0)
    start = trio.current_time()
    heard = [start]
    with trio.CancelScope() as watchdog:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_watch_heartbeats, server, heard, watchdog)
            for _ in range(5):  # a message every 6 s keeps it alive
                await trio.sleep(6)
                heard[0] = trio.current_time()
            await trio.sleep_forever()
    assert watchdog.cancelled_caught
    assert trio.current_time() - start == 5 * 6 + 10.0
