"""Batches task results to the server: one `TasksUpdated` per burst (see protocol.batching)."""

from __future__ import annotations

import math
from typing import Any

import trio

from rain.common.rows import FailedTask, FinishedTask
from rain.core.protocol import messages as m
from rain.core.protocol.batching import receive_batch
from rain.core.protocol.stream import MessageStream


class Reporter:
    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[tuple[bool, Any]](math.inf)

    def finished(self, item: FinishedTask) -> None:
        self._send.send_nowait((True, item))

    def failed(self, item: FailedTask) -> None:
        self._send.send_nowait((False, item))

    async def serve(self, conn: MessageStream) -> None:
        while True:
            try:
                batch = await receive_batch(self._receive)
            except trio.EndOfChannel:
                return
            finished = [item for ok, item in batch if ok]
            failed = [item for ok, item in batch if not ok]
            await conn.send(m.TasksUpdated(finished, failed))
