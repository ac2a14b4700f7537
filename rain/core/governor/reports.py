"""Batches task results to the server: one `TasksUpdated` per burst (see protocol.batching).

A batch leaves the queue only once it is sent: when the server connection drops, unsent
results wait for the next connection, and their task ids go with the new registration.

A small output the server asked for (a kept one: `AssignedTask.report_data`) goes with its
result (`small_output_data`), so the server answers its fetch without the client coming to the
data port: one connection and two messages fewer on a single task's round trip.
"""

from __future__ import annotations

import math
from typing import Any

import trio

from rain.common.rows import REPORT_SESSION_ID, REPORT_TASK_ID, SMALL_OUTPUT, FailedTask, FinishedTask
from rain.core.governor.store import StoredObject
from rain.core.protocol import messages as m
from rain.core.protocol.batching import receive_batch
from rain.core.protocol.stream import MessageStream


def small_output_data(stored: StoredObject) -> bytes | None:
    """The data of a blob of at most `SMALL_OUTPUT` bytes (read from its file if it is one)."""
    if stored.spec.data_type != "blob" or stored.size > SMALL_OUTPUT:
        return None
    if stored.data is not None:
        return stored.data
    if stored.path is None:
        return None
    with open(stored.path, "rb") as f:
        data = f.read(SMALL_OUTPUT + 1)
    return data if len(data) <= SMALL_OUTPUT else None


class Reporter:
    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[tuple[bool, Any]](math.inf)
        self._unsent: list[tuple[bool, Any]] = []  # taken from the channel, not yet sent
        self._queued: dict[tuple[int, int], None] = {}  # ids of every report not yet sent

    def finished(self, item: FinishedTask) -> None:
        self._queued[(item.session_id, item.task_id)] = None
        self._send.send_nowait((True, item))

    def failed(self, item: FailedTask) -> None:
        self._queued[(item.session_id, item.task_id)] = None
        self._send.send_nowait((False, item))

    def pending_task_ids(self) -> list[list[int]]:
        """[session, task] of the results not sent yet."""
        return [list(key) for key in self._queued]

    def discard(self) -> None:
        """Forgets every unsent result (the server they were for is gone for good)."""
        self._unsent = []
        self._queued.clear()
        while True:
            try:
                self._receive.receive_nowait()
            except trio.WouldBlock:
                return

    async def serve(self, conn: MessageStream) -> None:
        while True:
            if not self._unsent:
                try:
                    self._unsent = await receive_batch(self._receive)
                except trio.EndOfChannel:
                    return
            batch = self._unsent
            finished = [item for ok, item in batch if ok]
            failed = [item for ok, item in batch if not ok]
            await conn.send(m.TasksUpdated(finished, failed))
            self._unsent = []
            for _, item in batch:
                self._queued.pop((item[REPORT_SESSION_ID], item[REPORT_TASK_ID]), None)
