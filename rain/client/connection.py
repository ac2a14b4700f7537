"""The client's blocking connection: a socket, the shared sans-IO framing and codec.

The client is synchronous and has no background thread: a request is sent, then frames are
read until the reply with the same request id arrives. Replies to other requests met on the
way (several may be in flight) are kept until asked for.

Some requests are pipelined (`Deferred`: a submit, an unkeep): the call returns once the
request is sent, and its reply is read during a later call. The server answers a connection's
requests in order, so a later call returns only once every earlier deferred request is
answered (a submit is acknowledged once journaled: when a later call returns, the submit is
durable). A refused deferred request undoes its call's effects on the client and its error is
raised by the next call of the same owner (its session), naming the call that was refused.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import attrs

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


@attrs.define(eq=False)
class Deferred:
    """A request whose reply the caller does not wait for. `what` names the call in its error
    (worked out only then); `undo` takes back the call's effects on the client when the server
    refuses it; `owner` (a session) raises the error at its next call."""

    cls: Callable[..., m.Message]
    fields: dict[str, Any]
    what: Callable[[], str]
    undo: Callable[[], None]
    owner: object


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
        self._scratch: memoryview | None = None
        self._next_id = 1
        self._replies: dict[int, m.Message] = {}
        self._progress: dict[int, Callable[[m.Progress], None]] = {}
        self._deferred: dict[int, Deferred] = {}  # sent, not answered yet; in request id order
        self._refused: list[tuple[object, RainException]] = []  # deferred requests refused, not raised yet
        self._abandoned: set[int] = set()  # requests whose call raised before their reply came
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
            if self._scratch is None:  # reused: allocating RECEIVE_SIZE per read costs more than a small read
                self._scratch = memoryview(bytearray(RECEIVE_SIZE))
            try:
                size = self._sock.recv_into(self._scratch)
            except OSError as exc:
                raise ConnectionLost(f"connection to {self.address} lost: {exc}") from None
            if not size:
                raise ConnectionLost(f"connection to {self.address} closed")
            self._reader.feed(self._scratch[:size])

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
                owner: object = None, **fields: Any) -> m.Message:
        """Sends `cls(request_id, **fields)` and returns its reply; an Error reply raises.
        `on_progress` asks the server for `Progress` pushes (a `Wait`) and is called with each.
        A deferred request of `owner` refused before or meanwhile raises instead."""
        if owner is not None:
            self.raise_refused(owner)
        rid = self.new_request_id()
        if on_progress is None:
            self.send(cls(request_id=rid, **fields))
            return self.reply(rid, owner)
        self._progress[rid] = on_progress
        try:
            self.send(cls(request_id=rid, progress=True, **fields))
            return self.reply(rid, owner)
        finally:
            del self._progress[rid]

    def send_deferred(self, deferred: Deferred) -> None:
        """Sends a request without waiting for its reply (see the module docstring). Until it
        is answered it stays in `pending_deferred`, also when the send fails (it is sent again
        on the next connection)."""
        rid = self.new_request_id()
        self._deferred[rid] = deferred
        self.send(deferred.cls(request_id=rid, **deferred.fields))

    def pending_deferred(self) -> list[Deferred]:
        """The deferred requests not answered yet, oldest first."""
        return list(self._deferred.values())

    def raise_refused(self, owner: object) -> None:
        """Raises the error of `owner`'s oldest refused deferred request, if any."""
        for i, (who, exc) in enumerate(self._refused):
            if who is owner:
                del self._refused[i]
                raise exc

    def discard_refused(self, owner: object) -> list[RainException]:
        errors = [exc for who, exc in self._refused if who is owner]
        self._refused = [(who, exc) for who, exc in self._refused if who is not owner]
        return errors

    def keep_refused(self, lost: Connection) -> None:
        """The errors a lost connection had not raised yet are raised by this one."""
        self._refused += lost._refused
        lost._refused = []

    def refused(self, deferred: Deferred, error: RainException) -> None:
        """Takes back a deferred request's effects; its error waits for its owner's next call."""
        exc = type(error)(f"{deferred.what()}: {error}")
        exc.task_id = getattr(error, "task_id", None)  # type: ignore[attr-defined]
        deferred.undo()
        self._refused.append((deferred.owner, exc))

    def reply(self, request_id: int, owner: object = None) -> m.Message:
        """The reply to `request_id`, read once every deferred request sent before it is
        answered too."""
        msg = self._replies.pop(request_id, None)
        try:
            while msg is None or (self._deferred and next(iter(self._deferred)) < request_id):
                received = self.receive()
                rid = getattr(received, "request_id", None)
                if isinstance(received, m.Progress):
                    callback = self._progress.get(received.request_id)
                    if callback is not None:
                        callback(received)
                    continue
                if rid == request_id:
                    msg = received
                elif rid in self._deferred:
                    deferred = self._deferred.pop(rid)
                    if isinstance(received, m.Error):
                        self.refused(deferred, error_from_reply(received))
                        if owner is not None:
                            self.raise_refused(owner)
                elif rid in self._abandoned:
                    self._abandoned.discard(rid)
                elif rid is not None:
                    self._replies[rid] = received
                elif isinstance(received, m.Error):
                    raise RainException(f"server error: {received.message}")
        except RainException:
            if msg is None:
                self._abandoned.add(request_id)
            raise
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
