"""Trio adapter: a byte stream carrying Rain frames, plus the handshake every endpoint uses.

The handshake (optional TLS, hello, mutual HMAC proof of the cluster key; rules in
`rain.core.protocol.auth`) happens before any other frame is processed. On the accepting side
a `Gate` runs it for one listening endpoint: it bounds the time a connection may take to
authenticate and the number of connections still in their handshake, keeps frames small until
the peer is authenticated, then sets the frame limit of the peer's role; every refusal is
logged and counted.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping

import attrs
import trio

from rain.common.addresses import split_address
from rain.core.protocol.auth import (
    HANDSHAKE_TIMEOUT,
    AcceptingHandshake,
    ConnectingHandshake,
    Credentials,
    HandshakeRefused,
)
from rain.core.protocol.codec import decode, encode
from rain.core.protocol.errors import describe, is_connection_error
from rain.core.protocol.framing import MAX_FRAME_SIZE, FrameReader, ProtocolError
from rain.core.protocol.messages import Error, M, Message
from rain.core.protocol.tls import check_pin, client_context

logger = logging.getLogger(__name__)

PRE_AUTH_MAX_FRAME = 64 * 1024
MAX_PENDING_HANDSHAKES = 64
RECEIVE_SIZE = 256 * 1024
RAW_BUFFER = 1024 * 1024
# Where every MessageStream of the process reads plain TCP into; its bytes are copied into the
# stream's frame reader before anything else runs (trio runs one task at a time, in one thread).
_SCRATCH = bytearray(RECEIVE_SIZE)
_SCRATCH_VIEW = memoryview(_SCRATCH)


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
        self._flooded = False  # the last read found data without waiting
        self.last_frame_size = 0
        self.last_frame = b""  # the payload of the last message received, as it came (a submit is journaled so)

    def __str__(self) -> str:
        return self.peer

    @property
    def max_frame_size(self) -> int:
        return self._reader.max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, value: int) -> None:
        self._reader.max_frame_size = value

    async def send(self, msg: Message) -> None:
        await self.send_raw(encode(msg))

    async def send_raw(self, frame: bytes) -> None:
        lock = self._send_lock
        try:
            lock.acquire_nowait()  # free: no turn of the event loop spent on the lock
        except trio.WouldBlock:
            await lock.acquire()
        try:
            sock = self.raw_socket
            if sock is None:
                await self.stream.send_all(frame)
            else:
                await _write_all(sock, frame)
        finally:
            lock.release()

    def write_nowait(self, data: bytes) -> int:
        """Writes what the socket takes at once, without awaiting; returns how many bytes
        (0 when a send is in progress, on TLS, or on an error, which the next send raises)."""
        sock = self.raw_socket
        if sock is None or self._send_lock.locked():
            return 0
        try:
            return os.write(sock.fileno(), data)
        except OSError:  # BlockingIOError included: the writer task waits for room
            return 0

    @property
    def raw_socket(self) -> trio.socket.SocketType | None:
        """The TCP socket when nothing (TLS) is layered over it: unframed bytes may then go
        straight to and from it (`send_file`, `receive_into_file`)."""
        return self.stream.socket if isinstance(self.stream, trio.SocketStream) else None

    async def send_file(self, frame: bytes, fd: int, size: int) -> None:
        """Sends `frame`, then `size` bytes of the file `fd` unframed, with `sendfile`: the
        kernel copies from the page cache to the socket, nothing goes through Python."""
        sock = self.raw_socket
        assert sock is not None
        async with self._send_lock:
            await self.stream.send_all(frame)
            offset = 0
            while offset < size:
                await trio.lowlevel.checkpoint_if_cancelled()
                try:
                    sent = os.sendfile(sock.fileno(), fd, offset, size - offset)
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(sock)
                    continue
                if sent == 0:
                    raise ProtocolError(f"file ended after {offset} of {size} bytes")
                offset += sent

    async def receive_raw(self, size: int, write: Callable[[memoryview], object],
                          buffer_size: int = RAW_BUFFER) -> None:
        """Reads `size` unframed bytes (after a `RawObject`) and hands them to `write` in pieces
        of one preallocated buffer: first what came with the last frame, then `recv_into`."""
        received = 0
        if self._reader.pending:
            head = self._reader.take(size)
            write(memoryview(head))
            received = len(head)
        sock = self.raw_socket
        if received == size:
            return
        if sock is None:
            raise ProtocolError("unframed data on a TLS connection")
        view = memoryview(bytearray(min(buffer_size, size - received)))
        while received < size:
            n = await sock.recv_into(view[: min(len(view), size - received)])
            if not n:
                raise ProtocolError(f"connection closed after {received} of {size} bytes")
            write(view[:n])
            received += n

    async def receive(self) -> Message | None:
        """The next message, or None on a clean end of stream."""
        while True:
            frame = self._reader.next_frame()
            if frame is not None:
                self.last_frame_size = len(frame)
                self.last_frame = frame
                return decode(frame)
            data = await self._receive_some()
            if not data:
                if self._reader.pending:
                    raise ProtocolError(f"connection closed inside a frame ({self._reader.pending} bytes pending)")
                return None
            self._reader.feed(data)

    async def _receive_some(self) -> bytes | bytearray | memoryview:
        """Bytes from the peer, to be fed to the frame reader before the next await.

        On plain TCP they are read straight from the socket into one buffer the process reuses
        (allocating RECEIVE_SIZE per read costs more than a small read itself). A reader woken
        by data handles it in the same turn of the event loop (trio's `receive_some` yields
        after every read); one whose last read found data already there (a flood) yields
        first, so a busy connection does not starve the others."""
        sock = self.raw_socket
        if sock is None:
            return await self.stream.receive_some(RECEIVE_SIZE)
        if self._flooded:
            await trio.lowlevel.checkpoint()
        else:
            await trio.lowlevel.checkpoint_if_cancelled()
        self._flooded = True
        while True:
            try:
                size = os.readv(sock.fileno(), [_SCRATCH])
            except BlockingIOError:
                await trio.lowlevel.wait_readable(sock)
                self._flooded = False
                continue
            except OSError as exc:
                raise trio.BrokenResourceError(f"receiving from {self.peer}: {exc}") from exc
            return _SCRATCH_VIEW[:size]

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

    async def receive_handshake(self) -> Message:
        msg = await self.receive()
        if msg is None:
            raise ProtocolError(f"connection to {self.peer} closed during the handshake")
        return msg

    async def start_tls(self, credentials: Credentials, server_side: bool) -> None:
        """Replaces the stream by TLS over it; the dialing side checks the pinned certificate."""
        if server_side:
            assert credentials.server_ssl is not None
            tls = trio.SSLStream(self.stream, credentials.server_ssl, server_side=True, https_compatible=True)
        else:
            tls = trio.SSLStream(self.stream, client_context(), https_compatible=True)
        self.stream = tls
        await tls.do_handshake()
        if not server_side:
            assert credentials.fingerprint is not None
            check_pin(tls.getpeercert(binary_form=True), credentials.fingerprint, self.peer)

    async def aclose(self) -> None:
        with trio.move_on_after(1) as scope:
            scope.shield = True
            await self.stream.aclose()


async def _write_all(sock: trio.socket.SocketType, data: bytes) -> None:
    """Writes straight to the socket, waiting only while it is full: a frame the socket takes
    at once costs no turn of the event loop (trio's `send_all` yields after every send). The
    writers' loops yield between batches (rain.core.protocol.batching)."""
    await trio.lowlevel.checkpoint_if_cancelled()
    view = memoryview(data)
    while view:
        try:
            sent = os.write(sock.fileno(), view)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        except OSError as exc:
            raise trio.BrokenResourceError(f"sending: {exc}") from exc
        view = view[sent:]


def peer_name(stream: trio.abc.Stream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]  # type: ignore[attr-defined]
        return f"{host}:{port}"
    except (AttributeError, OSError):
        return "?"


# --- the handshake -------------------------------------------------------------------------


async def accept_handshake(conn: MessageStream, roles: tuple[str, ...], credentials: Credentials) -> str:
    """TLS if configured, then hello and the key check; returns the peer's role.
    Raises HandshakeRefused (whose `reply` tells the peer why) or a connection error."""
    if credentials.server_ssl is not None:
        await conn.start_tls(credentials, server_side=True)
    handshake = AcceptingHandshake(roles, credentials)
    await conn.send(handshake.on_hello(await conn.receive_handshake()))
    if not handshake.done:
        await conn.send(handshake.on_proof(await conn.receive_handshake()))
    return handshake.role


async def connect_handshake(conn: MessageStream, role: str, credentials: Credentials) -> None:
    """The dialing side of `accept_handshake`, bounded by HANDSHAKE_TIMEOUT."""
    with trio.fail_after(HANDSHAKE_TIMEOUT):
        if credentials.tls:
            await conn.start_tls(credentials, server_side=False)
        handshake = ConnectingHandshake(role, credentials, conn.peer)
        await conn.send(handshake.hello())
        proof = handshake.on_hello(await conn.receive_handshake())
        if proof is not None:
            await conn.send(proof)
            handshake.on_proof(await conn.receive_handshake())


async def open_message_stream(address: str, role: str, credentials: Credentials) -> MessageStream:
    """Connects to "HOST:PORT" and performs the handshake as `role`."""
    host, port = split_address(address)
    tcp = await trio.open_tcp_stream(host or "127.0.0.1", port)
    stream = MessageStream(tcp, address)
    try:
        await connect_handshake(stream, role, credentials)
    except BaseException:
        await stream.aclose()
        raise
    return stream


@attrs.frozen
class EndpointLimits:
    """Limits of one listening endpoint against misbehaving peers.

    `frame_sizes` maps a peer role to its maximum frame size (roles not listed:
    MAX_FRAME_SIZE); before authentication every frame must fit in PRE_AUTH_MAX_FRAME."""

    frame_sizes: Mapping[str, int] = attrs.field(factory=dict)
    handshake_timeout: float = HANDSHAKE_TIMEOUT
    max_handshakes: int = MAX_PENDING_HANDSHAKES

    def frame_size(self, role: str) -> int:
        return self.frame_sizes.get(role, MAX_FRAME_SIZE)


class Gate:
    """Admits the connections of one listening endpoint (the server port, a data port).

    `refused` counts refusals by reason ("authentication", "timeout", "too_many_handshakes",
    "protocol"); the server shows its counters in its info."""

    LOG_INTERVAL = 1.0
    LOG_BURST = 5

    def __init__(self, roles: tuple[str, ...], credentials: Credentials, limits: EndpointLimits | None = None,
                 refused: Counter[str] | None = None) -> None:
        self.roles = roles
        self.credentials = credentials
        self.limits = limits or EndpointLimits()
        self.refused: Counter[str] = refused if refused is not None else Counter()
        self.pending = 0
        self._log_window: dict[str, tuple[float, int]] = {}
        self._unlogged: Counter[str] = Counter()

    async def admit(self, conn: MessageStream) -> str | None:
        """The peer's role once it is authenticated; None when it was refused (the peer was
        told why when possible; the caller closes the connection)."""
        if self.pending >= self.limits.max_handshakes:
            self._refuse(conn, "too_many_handshakes",
                         f"more than {self.limits.max_handshakes} connections are in their handshake")
            return None
        self.pending += 1
        conn.max_frame_size = PRE_AUTH_MAX_FRAME
        try:
            with trio.fail_after(self.limits.handshake_timeout):
                role = await accept_handshake(conn, self.roles, self.credentials)
        except trio.TooSlowError:
            message = f"authentication failed: no handshake within {self.limits.handshake_timeout:g} s"
            await _tell(conn, message)
            self._refuse(conn, "timeout", message)
            return None
        except HandshakeRefused as exc:
            await _tell(conn, str(exc))
            self._refuse(conn, exc.reason, str(exc))
            return None
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            self._refuse(conn, "protocol", f"handshake not completed: {describe(exc)}")
            return None
        finally:
            self.pending -= 1
        conn.max_frame_size = self.limits.frame_size(role)
        return role

    def _refuse(self, conn: MessageStream, reason: str, message: str) -> None:
        """Counts every refusal; logs at most LOG_BURST lines per reason and LOG_INTERVAL, so
        that a flood of connections cannot flood the log (the rest are summed up later)."""
        self.refused[reason] += 1
        now = trio.current_time()
        start, logged = self._log_window.get(reason, (now, 0))
        if now - start >= self.LOG_INTERVAL:
            start, logged = now, 0
        if logged >= self.LOG_BURST:
            self._unlogged[reason] += 1
            return
        self._log_window[reason] = (start, logged + 1)
        more = self._unlogged.pop(reason, 0)
        suffix = f" (after {more} more refusals of this kind not logged)" if more else ""
        logger.warning("refused connection from %s: %s%s", conn.peer, message, suffix)


async def _tell(conn: MessageStream, message: str) -> None:
    """Best effort: a peer that does not read must not hold the connection open."""
    with trio.move_on_after(1):
        try:
            await conn.send(Error(None, message))
        except Exception as exc:
            if not is_connection_error(exc):
                raise

