"""Trio adapter: a byte stream carrying Rain frames, plus the hello handshake."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import trio

from rain.core.protocol.codec import decode, encode
from rain.core.protocol.framing import MAX_FRAME_SIZE, FrameReader, ProtocolError
from rain.core.protocol.messages import PROTOCOL_VERSION, Error, Hello, M, Message

logger = logging.getLogger(__name__)

HELLO_TIMEOUT = 10.0
RECEIVE_SIZE = 256 * 1024


class MessageStream:
    """Sends and receives messages on one trio stream.

    Several tasks may send on one connection (a reader answering requests, a flusher pushing
    batches), so sends are serialized by a lock; receiving is done by one task only.
    """

    def __init__(self, stream: trio.abc.Stream, peer: str = "?", max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self.stream = stream
        self.peer = peer
        self._reader = FrameReader(max_frame_size)
        self._send_lock = trio.Lock()

    def __str__(self) -> str:
        return self.peer

    async def send(self, msg: Message) -> None:
        await self.send_raw(encode(msg))

    async def send_raw(self, frame: bytes) -> None:
        async with self._send_lock:
            await self.stream.send_all(frame)

    async def receive(self) -> Message | None:
        """The next message, or None on a clean end of stream."""
        while True:
            frame = self._reader.next_frame()
            if frame is not None:
                return decode(frame)
            data = await self.stream.receive_some(RECEIVE_SIZE)
            if not data:
                if self._reader.pending:
                    raise ProtocolError(f"connection closed inside a frame ({self._reader.pending} bytes pending)")
                return None
            self._reader.feed(data)

    async def __aiter__(self) -> AsyncIterator[Message]:
        while (msg := await self.receive()) is not None:
            yield msg

    async def receive_expected(self, cls: type[M]) -> M:
        msg = await self.receive()
        if msg is None:
            raise ProtocolError(f"connection closed while waiting for {cls.kind}")
        if isinstance(msg, Error):
            raise ProtocolError(f"peer refused: {msg.message}")
        if not isinstance(msg, cls):
            raise ProtocolError(f"expected {cls.kind}, got {msg.kind}")
        return msg

    async def aclose(self) -> None:
        with trio.move_on_after(1) as scope:
            scope.shield = True
            await self.stream.aclose()


async def accept_hello(stream: MessageStream, roles: tuple[str, ...]) -> str:
    """Reads the peer's hello within HELLO_TIMEOUT, answers it, returns the peer's role."""
    with trio.fail_after(HELLO_TIMEOUT):
        hello = await stream.receive_expected(Hello)
    assert isinstance(hello, Hello)
    if hello.version != PROTOCOL_VERSION or hello.role not in roles:
        reason = (
            f"protocol version {hello.version!r} not supported (expected {PROTOCOL_VERSION})"
            if hello.version != PROTOCOL_VERSION
            else f"role {hello.role!r} not accepted here (expected one of {', '.join(roles)})"
        )
        await stream.send(Error(None, reason))
        raise ProtocolError(reason)
    await stream.send(Hello(PROTOCOL_VERSION, "server"))
    return hello.role


async def send_hello(stream: MessageStream, role: str) -> None:
    await stream.send(Hello(PROTOCOL_VERSION, role))
    with trio.fail_after(HELLO_TIMEOUT):
        await stream.receive_expected(Hello)


async def open_message_stream(address: str, role: str) -> MessageStream:
    """Connects to "HOST:PORT" and performs the hello as `role`."""
    host, port = split_address(address)
    tcp = await trio.open_tcp_stream(host, port)
    stream = MessageStream(tcp, address)
    try:
        await send_hello(stream, role)
    except BaseException:
        await stream.aclose()
        raise
    return stream


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)
