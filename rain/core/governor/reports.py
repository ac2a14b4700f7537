"""Batches task results to the server: one `TasksUpdated` per burst (as protocol.batching does).

A batch leaves the queue only once it is sent: when the server connection drops, unsent
results wait for the next connection, and their task ids go with the new registration.

A small output the server asked for (a kept one: `AssignedTask.report_data`) goes with its
result (`small_output_data`), so the server answers its fetch without the client coming to the
data port: one connection and two messages fewer on a single task's round trip.
"""

from __future__ import annotations

from typing import Any

import trio
from trio.testing import wait_all_tasks_blocked

from rain.common.rows import SMALL_OUTPUT, FailedTask, FinishedTask
from rain.core.governor.store import StoredObject
from rain.core.protocol import messages as m
from rain.core.protocol.batching import MAX_BATCH, MAX_DELAY
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


def _plain_rows(batch: list[FinishedTask | FailedTask]) -> tuple[list[Any], list[Any]]:
    """The finished and the failed rows of a batch as plain tuples: cbor2 encodes a named tuple
    as the same array, but only after matching its class against every type it knows."""
    finished: list[Any] = []
    failed: list[Any] = []
    for item in batch:
        if type(item) is FinishedTask:
            session_id, task_id, info, outputs = item
            finished.append((session_id, task_id, info, [tuple(output) for output in outputs]))
        else:
            failed.append(tuple(item))
    return finished, failed


class Reporter:
    """Queues the results of tasks and sends them to the server in batches.

    Results are kept in a plain list, not a memory channel (one per task, thousands a second):
    `serve` waits on an event only when it found nothing queued. It batches as
    `rain.core.protocol.batching.receive_batch` does: after being idle it sends what woke it
    at once (with whatever else is queued by then); results that were already waiting when it
    comes back from a send mean a sustained burst, so it first lets the burst finish."""

    def __init__(self) -> None:
        self._queued: list[FinishedTask | FailedTask] = []  # reported, not yet taken by `serve`
        self._unsent: list[FinishedTask | FailedTask] = []  # taken by `serve`, not yet sent
        self._ids: dict[tuple[int, int], None] = {}  # ids of every report not yet sent
        self._wakeup: trio.Event | None = None  # set by the next report while `serve` waits

    def add(self, item: FinishedTask | FailedTask) -> None:
        """Queues a finished or a failed task's report."""
        self._ids[(item.session_id, item.task_id)] = None
        self._queued.append(item)
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    finished = failed = add  # one call per report, not two

    def pending_task_ids(self) -> list[list[int]]:
        """[session, task] of the results not sent yet."""
        return [list(key) for key in self._ids]

    def discard(self) -> None:
        """Forgets every unsent result (the server they were for is gone for good)."""
        self._unsent = []
        self._queued = []
        self._ids.clear()

    async def wait_queued(self) -> None:
        """Returns once a result is queued (at once if one is)."""
        while not self._queued:
            self._wakeup = trio.Event()
            await self._wakeup.wait()

    def take_queued(self, limit: int = MAX_BATCH) -> list[FinishedTask | FailedTask]:
        """The oldest queued results (at most `limit`), no longer queued."""
        taken = self._queued
        if len(taken) <= limit:
            self._queued = []
            return taken
        self._queued = taken[limit:]
        return taken[:limit]

    async def serve(self, conn: MessageStream) -> None:
        while True:
            if not self._unsent:
                if self._queued:  # queued while the last batch was sent: a burst
                    with trio.move_on_after(MAX_DELAY):
                        await wait_all_tasks_blocked()
                else:
                    await self.wait_queued()
                self._unsent = self.take_queued()
            batch = self._unsent
            await conn.send(m.TasksUpdated(*_plain_rows(batch)))
            self._unsent = []
            ids = self._ids
            for item in batch:
                ids.pop((item.session_id, item.task_id), None)
