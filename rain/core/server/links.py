"""Outgoing halves of connections: outboxes flushed in batches by one writer task each.

Handlers in `Server` never await; they drop messages into an outbox with `*_nowait` semantics.
The writer takes a batch (`rain.core.protocol.batching`) and sends it in one `send_all`.
"""

from __future__ import annotations

import math
from typing import Any

import trio

from rain.core.protocol import messages as m
from rain.core.protocol.batching import receive_batch
from rain.core.protocol.codec import encode
from rain.core.protocol.stream import MessageStream


class ClientLink:
    def __init__(self, stream: MessageStream) -> None:
        self.stream = stream
        self._send, self._receive = trio.open_memory_channel[m.Message](math.inf)

    def __str__(self) -> str:
        return f"client {self.stream.peer}"

    def send(self, msg: m.Message) -> None:
        try:
            self._send.send_nowait(msg)
        except trio.ClosedResourceError:
            pass

    def close(self) -> None:
        self._send.close()

    async def serve_writer(self) -> None:
        while True:
            try:
                batch = await receive_batch(self._receive)
            except trio.EndOfChannel:
                return
            await self.stream.send_raw(b"".join(encode(msg) for msg in batch))


def _batch(kind: str, items: list[Any]) -> m.Message:
    if kind == "assign":
        return m.AssignTasks(items)
    if kind == "cancel":
        return m.CancelTasks(items)
    if kind == "delete":
        return m.DeleteObjects(items)
    raise ValueError(kind)


class GovernorLink:
    """Commands to one governor; consecutive commands of one kind become one message."""

    def __init__(self, stream: MessageStream) -> None:
        self.stream = stream
        self._send, self._receive = trio.open_memory_channel[tuple[str, Any]](math.inf)

    def push(self, kind: str, item: Any) -> None:
        try:
            self._send.send_nowait((kind, item))
        except trio.ClosedResourceError:
            pass

    def close(self) -> None:
        self._send.close()

    async def serve_writer(self) -> None:
        while True:
            try:
                commands = await receive_batch(self._receive)
            except trio.EndOfChannel:
                return
            await self.stream.send_raw(b"".join(encode(msg) for msg in _group(commands)))


def _group(commands: list[tuple[str, Any]]) -> list[m.Message]:
    messages: list[m.Message] = []
    kind, items = None, []
    for cmd_kind, item in commands:
        if cmd_kind == "drop_session":
            if items:
                messages.append(_batch(kind, items))  # type: ignore[arg-type]
                kind, items = None, []
            messages.append(m.DropSession(item))
            continue
        if cmd_kind != kind and items:
            messages.append(_batch(kind, items))  # type: ignore[arg-type]
            items = []
        kind = cmd_kind
        items.append(item)
    if items:
        messages.append(_batch(kind, items))  # type: ignore[arg-type]
    return messages
