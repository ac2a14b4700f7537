"""Batches task results to the server: one `TasksUpdated` per burst, no timer."""

from __future__ import annotations

import math
from typing import Any

import trio

from rain.core.protocol import messages as m
from rain.core.protocol.stream import MessageStream


class Reporter:
    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[tuple[bool, Any]](math.inf)

    def finished(self, item: dict[str, Any]) -> None:
        self._send.send_nowait((True, item))

    def failed(self, item: dict[str, Any]) -> None:
        self._send.send_nowait((False, item))

    async def serve(self, conn: MessageStream) -> None:
        async for first in self._receive:
            finished: list[Any] = []
            failed: list[Any] = []
            ok, item = first
            (finished if ok else failed).append(item)
            while True:
                try:
                    ok, item = self._receive.receive_nowait()
                except trio.WouldBlock:
                    break
                (finished if ok else failed).append(item)
            await conn.send(m.TasksUpdated(finished, failed))
