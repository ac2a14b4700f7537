"""The client's blocking connection: a socket, the shared sans-IO framing and codec.

The client is synchronous and has no background thread: a request is sent, then frames are
read until the reply with the same request id arrives. Replies to other requests met on the
way (several may be in flight) are kept until asked for.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from rain.common.errors import RainException, SessionException, TaskException
from rain.core.protocol import messages as m
from rain.core.protocol.auth import HANDSHAKE_TIMEOUT, ConnectingHandshake, Credentials
from rain.core.protocol.codec import decode, encode
from rain.core.protocol.framing import FrameReader, ProtocolError
from rain.core.protocol.tls import check_pin, client_context

RECEIVE_SIZE = 1024 * 1024
CONNECT_TIMEOUT = 10.0


class ConnectionLost(RainException):
    """The peer went away (or could not be reached): a client may dial again."""


class Connection:
    """`what` names the peer in errors ("rain server", "governor")."""

    def __init__(self, host: str, port: int, credentials: Credentials, role: str = "client",
                 what: str = "rain server") -> None:
        self.address = f"{host}:{port}"
        self.credentials = credentials
        try:
            self._sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise ConnectionLost(f"cannot connect to {what} at {self.address}: {exc.strerror or exc}") from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = FrameReader()
        self._next_id = 1
        self._replies: dict[int, m.Message] = {}
        self._progress: dict[int, Callable[[m.Progress], None]] = {}
        try:
            self._handshake(role, what)
        except BaseException:
            self._sock.close()
            raise
        self._sock.settimeout(None)

    def _handshake(self, role: str, what: str) -> None:
        """TLS when the access file says so, then hello and the key check (rain.core.protocol.auth)."""
        self._sock.settimeout(HANDSHAKE_TIMEOUT)
        try:
            if self.credentials.tls:
                assert self.credentials.fingerprint is not None
                self._sock = client_context().wrap_socket(self._sock)
                check_pin(self._sock.getpeercert(binary_form=True), self.credentials.fingerprint, self.address)
            handshake = ConnectingHandshake(role, self.credentials, f"the {what} at {self.address}")
            self.send(handshake.hello())
            proof = handshake.on_hello(self.receive())
            if proof is not None:
                self.send(proof)
                handshake.on_proof(self.receive())
        except ProtocolError as exc:
            raise RainException(str(exc)) from None
        except OSError as exc:  # includes ssl.SSLError and socket timeouts
            raise RainException(f"handshake with the {what} at {self.address} failed: {exc}") from None

    def close(self) -> None:
        self._sock.close()

    def send(self, msg: m.Message) -> None:
        try:
            self._sock.sendall(encode(msg))
        except OSError as exc:
            raise ConnectionLost(f"connection to {self.address} lost: {exc}") from None

    def receive(self) -> m.Message:
        while True:
            try:
                frame = self._reader.next_frame()
            except ProtocolError as exc:
                raise RainException(f"invalid data from {self.address}: {exc}") from None
            if frame is not None:
                try:
                    return decode(frame)
                except ProtocolError as exc:
                    raise RainException(f"invalid message from {self.address}: {exc}") from None
            try:
                data = self._sock.recv(RECEIVE_SIZE)
            except OSError as exc:
                raise ConnectionLost(f"connection to {self.address} lost: {exc}") from None
            if not data:
                raise ConnectionLost(f"connection to {self.address} closed")
            self._reader.feed(data)

    def receive_raw(self, size: int, write: Callable[[memoryview], object]) -> None:
        """Reads `size` unframed bytes (after a `RawObject`) into one preallocated buffer and
        hands them to `write` piece by piece: what came with the last frame first."""
        received = 0
        if self._reader.pending:
            head = self._reader.take(size)
            write(memoryview(head))
            received = len(head)
        if received == size:
            return
        view = memoryview(bytearray(min(RECEIVE_SIZE, size - received)))
        while received < size:
            try:
                n = self._sock.recv_into(view[: min(len(view), size - received)])
            except OSError as exc:
                raise ConnectionLost(f"connection to {self.address} lost: {exc}") from None
            if not n:
                raise ConnectionLost(f"connection to {self.address} closed after {received} of {size} bytes")
            write(view[:n])
            received += n

    def new_request_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def request(self, cls: Callable[..., m.Message], *, on_progress: Callable[[m.Progress], None] | None = None,
                **fields: Any) -> m.Message:
        """Sends `cls(request_id, **fields)` and returns its reply; an Error reply raises.
        `on_progress` asks the server for `Progress` pushes (a `Wait`) and is called with each."""
        rid = self.new_request_id()
        if on_progress is None:
            self.send(cls(request_id=rid, **fields))
            return self.reply(rid)
        self._progress[rid] = on_progress
        try:
            self.send(cls(request_id=rid, progress=True, **fields))
            return self.reply(rid)
        finally:
            del self._progress[rid]

    def reply(self, request_id: int) -> m.Message:
        msg = self._replies.pop(request_id, None)
        while msg is None:
            received = self.receive()
            rid = getattr(received, "request_id", None)
            if isinstance(received, m.Progress):
                callback = self._progress.get(received.request_id)
                if callback is not None:
                    callback(received)
                continue
            if rid == request_id:
                msg = received
            elif rid is not None:
                self._replies[rid] = received
            elif isinstance(received, m.Error):
                raise RainException(f"server error: {received.message}")
        if isinstance(msg, m.Error):
            raise error_from_reply(msg)
        return msg


def error_from_reply(msg: m.Error) -> RainException:
    if msg.category == m.ErrorCategory.TASK:
        exc: RainException = TaskException(msg.message)
    elif msg.category == m.ErrorCategory.SESSION:
        exc = SessionException(msg.message)
    else:
        exc = RainException(msg.message)
    exc.task_id = msg.task_id  # type: ignore[attr-defined]
    return exc
