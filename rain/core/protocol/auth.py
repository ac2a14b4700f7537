"""The connection handshake without I/O: hello, then a mutual HMAC challenge-response.

Both sides hold the cluster key (32 random bytes from the access file); the key never crosses
the wire. The connecting side sends `Hello(version, role, nonce_c)`; the accepting side answers
`Hello(version, "server", nonce_s)`; the connecting side proves it knows the key with
`Authenticate(HMAC(key, CONNECTING | transcript))`, and only after checking that proof does the
accepting side prove itself with `Authenticate(HMAC(key, ACCEPTING | transcript))`. The
transcript binds both fresh nonces, the version and the role, so a proof is never valid twice,
for another role, or in the other direction (the two labels differ). An unauthenticated peer
learns nothing but a random nonce: the accepting side proves nothing before the peer has.

A side without a key (`--insecure`) sends and expects `nonce=None`. A side with a key refuses a
peer that does not authenticate, so nobody can downgrade a connection by pretending to be an
insecure server. The trio adapter (`rain.core.protocol.stream`) and the blocking client drive
these two classes, so there is one implementation of the rules.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import ssl
from typing import Any

import attrs
import cbor2

from rain.core.protocol.framing import ProtocolError, brief
from rain.core.protocol.messages import PROTOCOL_VERSION, Authenticate, Error, Hello, Message

NONCE_SIZE = 32
KEY_SIZE = 32
HANDSHAKE_TIMEOUT = 10.0  # seconds to finish TLS, hello and proofs, on either side
CONNECTING = b"rain-auth-1 connecting side\x00"
ACCEPTING = b"rain-auth-1 accepting side\x00"


class AuthenticationError(ProtocolError):
    """The peer has no key, the wrong key, or refused ours. The message starts with
    "authentication failed:" and is what the peer is told."""


class HandshakeRefused(ProtocolError):
    """The accepting side refuses the connection; `reply` is the Error to send before closing."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # a short category for the refusal counters

    @property
    def reply(self) -> Error:
        return Error(None, str(self))


@attrs.frozen(eq=False)
class Credentials:
    """What one process needs to open or accept connections.

    `key` None means no authentication (`--insecure`). `fingerprint` set means TLS, with the
    server certificate pinned to it; `server_ssl` is the context of sides that accept
    connections (the server and governors' data ports). `origin` says where the key came from,
    for error messages."""

    key: bytes | None = attrs.field(default=None, repr=False)  # never in logs or tracebacks
    fingerprint: str | None = None
    server_ssl: ssl.SSLContext | None = None
    origin: str = ""

    @property
    def tls(self) -> bool:
        return self.fingerprint is not None


INSECURE = Credentials()


def new_key() -> bytes:
    return secrets.token_bytes(KEY_SIZE)


def _proof(key: bytes, label: bytes, role: str, nonce_c: bytes, nonce_s: bytes) -> bytes:
    transcript = cbor2.dumps([PROTOCOL_VERSION, role, nonce_c, nonce_s])
    return hmac.new(key, label + transcript, hashlib.sha256).digest()


def _valid_nonce(value: Any) -> bool:
    return isinstance(value, bytes) and len(value) == NONCE_SIZE


class ConnectingHandshake:
    """The side that dials: `hello()`, then `on_hello(reply)` gives the proof to send (None when
    neither side authenticates, then the handshake is over), then `on_proof(reply)`."""

    def __init__(self, role: str, credentials: Credentials, peer: str) -> None:
        self.role = role
        self.key = credentials.key
        self.origin = credentials.origin
        self.peer = peer
        self._nonce = secrets.token_bytes(NONCE_SIZE) if self.key is not None else None
        self._peer_nonce = b""

    def hello(self) -> Hello:
        return Hello(PROTOCOL_VERSION, self.role, self._nonce)

    def _refused(self, reply: Message, expected: str) -> ProtocolError:
        if isinstance(reply, Error):
            if reply.message.startswith("authentication failed") and self.key is None:
                return self._no_key()
            if reply.message.startswith("authentication failed"):
                return AuthenticationError(f"{reply.message} ({self.origin})" if self.origin else reply.message)
            return ProtocolError(f"{self.peer} refused the connection: {reply.message}")
        return ProtocolError(f"{self.peer} is not a rain endpoint (expected {expected}, got {reply.kind!r})")

    def _no_key(self) -> AuthenticationError:
        return AuthenticationError(f"authentication failed: {self.peer} requires the cluster key and this side "
                                   f"has none ({self.origin or 'no access file'})")

    def on_hello(self, reply: Message) -> Authenticate | None:
        if not isinstance(reply, Hello):
            raise self._refused(reply, "hello")
        if reply.version != PROTOCOL_VERSION:
            raise ProtocolError(f"{self.peer} speaks protocol version {brief(reply.version)}, not {PROTOCOL_VERSION}")
        if self.key is None or self._nonce is None:
            if reply.nonce is not None:
                raise self._no_key()
            return None
        if reply.nonce is None:
            raise AuthenticationError(f"authentication failed: {self.peer} does not authenticate (started with "
                                      f"--insecure?), but this side has a key ({self.origin}); refusing to talk "
                                      "to it")
        if not _valid_nonce(reply.nonce):
            raise ProtocolError(f"{self.peer} sent an invalid nonce")
        self._peer_nonce = reply.nonce
        return Authenticate(_proof(self.key, CONNECTING, self.role, self._nonce, reply.nonce))

    def on_proof(self, reply: Message) -> None:
        if not isinstance(reply, Authenticate):
            raise self._refused(reply, "authenticate")
        assert self.key is not None and self._nonce is not None
        expected = _proof(self.key, ACCEPTING, self.role, self._nonce, self._peer_nonce)
        if not (isinstance(reply.proof, bytes) and hmac.compare_digest(reply.proof, expected)):
            raise AuthenticationError(f"authentication failed: {self.peer} did not prove it knows the cluster "
                                      f"key ({self.origin})")


class AcceptingHandshake:
    """The side that listens: `on_hello(msg)` gives the reply hello; then, unless `done`,
    `on_proof(msg)` gives the proof to send. A refusal raises `HandshakeRefused`, whose `reply`
    tells the peer why."""

    def __init__(self, roles: tuple[str, ...], credentials: Credentials) -> None:
        self.roles = roles
        self.key = credentials.key
        self.role = ""
        self.done = False
        self._nonce = secrets.token_bytes(NONCE_SIZE) if self.key is not None else b""
        self._peer_nonce = b""

    def on_hello(self, msg: Message) -> Hello:
        if not isinstance(msg, Hello):
            raise HandshakeRefused(f"expected hello, got {msg.kind}", "protocol")
        if msg.version != PROTOCOL_VERSION:
            raise HandshakeRefused(f"protocol version {brief(msg.version)} not supported (expected "
                                   f"{PROTOCOL_VERSION})", "protocol")
        if msg.role not in self.roles:
            raise HandshakeRefused(f"role {brief(msg.role)} not accepted here (expected one of "
                                   f"{', '.join(self.roles)})", "protocol")
        self.role = msg.role
        if self.key is None:
            self.done = True
            return Hello(PROTOCOL_VERSION, "server", None)
        if msg.nonce is None:
            raise HandshakeRefused("authentication failed: this endpoint requires the cluster key and none was "
                                   "offered (pass the access file with --access-file, RAIN_ACCESS_FILE or "
                                   "Client(..., access_file=...))", "authentication")
        if not _valid_nonce(msg.nonce):
            raise HandshakeRefused("authentication failed: invalid nonce", "authentication")
        self._peer_nonce = msg.nonce
        return Hello(PROTOCOL_VERSION, "server", self._nonce)

    def on_proof(self, msg: Message) -> Authenticate:
        assert self.key is not None
        if not isinstance(msg, Authenticate):
            raise HandshakeRefused(f"authentication failed: expected authenticate, got {msg.kind}", "authentication")
        expected = _proof(self.key, CONNECTING, self.role, self._peer_nonce, self._nonce)
        if not (isinstance(msg.proof, bytes) and hmac.compare_digest(msg.proof, expected)):
            raise HandshakeRefused("authentication failed: wrong cluster key", "authentication")
        self.done = True
        return Authenticate(_proof(self.key, ACCEPTING, self.role, self._peer_nonce, self._nonce))
