"""Outgoing halves of connections: outboxes written when a handler is done, or by a writer task.

Handlers in `Server` never await; they drop messages into an outbox with `*_nowait` semantics.
While a connection's reader runs the handler of one received message (`handling`), what the
handler queues is held, and written straight to each socket it is for when the handler ends,
when the socket takes it at once: a reply costs no wake-up of a writer task and no extra turn
of the event loop. Otherwise (a full socket, a write already waiting, TLS, or messages queued
outside a handler, by timers and the journal), each outbox's writer task takes a batch
(`rain.core.protocol.batching`) and sends it in one write. Order is kept: nothing is written
straight while the writer still has something to send.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import trio

from rain.common.ids import ID
from rain.common.rows import AssignedTask
from rain.core.protocol import messages as m
from rain.core.protocol.batching import receive_batch
from rain.core.protocol.codec import encode
from rain.core.protocol.stream import MessageStream


class _Handling:
    """The outboxes a running handler queued messages into (trio runs one task at a time, and
    a handler does not await: at most one handler is running). Its own context manager: one is
    entered per message received, where a generator-based one cost a microsecond more."""

    def __init__(self) -> None:
        self.active = False
        self.held: list[Outbox] = []

    def __enter__(self) -> None:
        self.active = True

    def __exit__(self, *exc_info: object) -> None:
        self.active = False
        send_held()


_HANDLING = _Handling()


def handling() -> _Handling:
    """Holds what the code inside queues, and writes it out when it ends."""
    return _HANDLING


def send_held() -> None:
    """Writes what the running handler queued so far, as its end would (a large submit's first
    assignments, sent before the rest of the submit is built)."""
    held, _HANDLING.held = _HANDLING.held, []
    for outbox in held:
        outbox.flush()


class _Unsent:
    """The end of a write the socket did not take at once, for the writer task."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class Outbox:
    """Items queued without awaiting, written when the handler ends or by `serve_writer`."""

    def __init__(self, stream: MessageStream) -> None:
        self.stream = stream
        self._send, self._receive = trio.open_memory_channel[Any](math.inf)
        self._to_write = 0  # items given to the writer task and not written yet
        self._held: list[Any] = []  # queued by the running handler

    def _queue(self, item: Any) -> None:
        if _HANDLING.active:
            if not self._held:
                _HANDLING.held.append(self)
            self._held.append(item)
        else:
            self._to_writer(item)

    def _to_writer(self, item: Any) -> None:
        try:
            self._send.send_nowait(item)
        except trio.ClosedResourceError:  # the connection is closing; nobody will read it
            return
        self._to_write += 1

    def flush(self) -> None:
        """Writes what the handler queued, straight to the socket if the writer task has
        nothing left to send (else after that, by the writer)."""
        held, self._held = self._held, []
        if self._to_write:
            for item in held:
                self._to_writer(item)
            return
        data = _encode(self._messages(held))
        sent = self.stream.write_nowait(data)
        if sent < len(data):
            self._to_writer(_Unsent(data[sent:]))

    def close(self) -> None:
        self._send.close()

    def _messages(self, batch: list[Any]) -> list[m.Message]:
        return batch

    async def serve_writer(self) -> None:
        while True:
            try:
                batch = await receive_batch(self._receive)
            except trio.EndOfChannel:
                return
            head = b""
            if type(batch[0]) is _Unsent:  # it was queued when nothing else was: it is first
                head = batch[0].data
                items = batch[1:]
            else:
                items = batch
            await self.stream.send_raw(head + _encode(self._messages(items)) if items else head)
            self._to_write -= len(batch)


def _encode(messages: list[m.Message]) -> bytes:
    return b"".join([encode(msg) for msg in messages])


class ClientSink(Protocol):
    """What the server's state needs from a link to a client (a `ClientLink`, or a test's recorder)."""

    def send(self, msg: m.Message) -> None: ...


class GovernorSink(Protocol):
    """What the server's state needs from a link to a governor: its commands, never awaited."""

    def assign(self, task: AssignedTask) -> None: ...

    def delete(self, object_id: ID) -> None: ...

    def drop_session(self, session_id: int) -> None: ...

    def peer_lost(self, data_address: str) -> None: ...


class ClientLink(Outbox):
    def __init__(self, stream: MessageStream) -> None:
        super().__init__(stream)
        self._later: list[m.Message] = []

    def __str__(self) -> str:
        return f"client {self.stream.peer}"

    def send(self, msg: m.Message) -> None:
        if self._later:
            for held in self._later:
                self._queue(held)
            self._later.clear()
        self._queue(msg)

    def send_later(self, msg: m.Message) -> None:
        """A reply the client does not wait for (the `Ok` of a pipelined submit or unkeep):
        it goes out with the next message, which the client always asks for before it needs
        this one, and costs no write and no wake-up of its own."""
        self._later.append(msg)


class GovernorLink(Outbox):
    """Commands to one governor; consecutive commands of one kind become one message.

    Deletes do not wake the writer: they go with the next other command, or `DELETE_DELAY`
    after the first of them. A governor's memory may hold dead objects that long; in exchange
    a finished task's report does not cost a message back (one wake-up and one write here, one
    read and one decode there), and deletes travel by the hundred.
    """

    def __init__(self, stream: MessageStream) -> None:
        super().__init__(stream)
        self._deletes: list[list[int]] = []
        self._deletes_waiting = trio.Event()

    def assign(self, task: AssignedTask) -> None:
        if self._deletes:  # `_command`, inline: this runs once per task
            self._flush_deletes()
        self._queue((_ASSIGN, task))

    def delete(self, object_id: ID) -> None:
        if not self._deletes:
            self._deletes_waiting.set()
        self._deletes.append(list(object_id))

    def drop_session(self, session_id: int) -> None:
        self._command((_DROP_SESSION, session_id))

    def peer_lost(self, data_address: str) -> None:
        self._command((_PEER_LOST, data_address))

    def _command(self, item: tuple[str, Any]) -> None:
        if self._deletes:
            self._flush_deletes()  # in order: what was deleted before goes before
        self._queue(item)

    def close(self) -> None:
        if self._deletes:
            self._flush_deletes()
        super().close()

    def _flush_deletes(self) -> None:
        deletes, self._deletes = self._deletes, []
        self._queue((_DELETES, deletes))

    async def serve_writer(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._serve_deletes)
            await super().serve_writer()
            nursery.cancel_scope.cancel()

    async def _serve_deletes(self) -> None:
        while True:
            await self._deletes_waiting.wait()
            await trio.sleep(DELETE_DELAY)
            self._deletes_waiting = trio.Event()
            if self._deletes:
                self._flush_deletes()

    def _messages(self, batch: list[tuple[str, Any]]) -> list[m.Message]:
        return _group(batch)


DELETE_DELAY = 0.05
_ASSIGN, _DELETE, _DELETES, _DROP_SESSION, _PEER_LOST = "assign", "delete", "deletes", "drop_session", "peer_lost"
_BATCHED: dict[str, Callable[[list[Any]], m.Message]] = {_ASSIGN: m.AssignTasks, _DELETE: m.DeleteObjects}
_SINGLE: dict[str, Callable[[Any], m.Message]] = {_DROP_SESSION: m.DropSession, _PEER_LOST: m.PeerLost}


def _group(commands: list[tuple[str, Any]]) -> list[m.Message]:
    """Consecutive commands of one kind -> one message; a session drop or a lost peer stands alone."""
    messages: list[m.Message] = []
    kind = ""
    items: list[Any] = []
    for cmd_kind, item in commands:
        many = cmd_kind == _DELETES  # a run of deletes, queued at once
        if many:
            cmd_kind = _DELETE
        if cmd_kind != kind and items:
            messages.append(_BATCHED[kind](items))
            items = []
        if cmd_kind in _SINGLE:
            messages.append(_SINGLE[cmd_kind](item))
            kind = ""
            continue
        kind = cmd_kind
        if many:
            items.extend(item)
        else:
            items.append(item)
    if items:
        messages.append(_BATCHED[kind](items))
    return messages
