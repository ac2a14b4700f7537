"""The one encode/decode path for messages, shared by every process.

Any malformed payload (bad CBOR, not a map, unknown type, missing or extra fields) becomes a
`ProtocolError`, the single exception connection handlers catch to close a connection.
"""

from __future__ import annotations

from typing import Any

import cbor2

from rain.core.protocol.framing import ProtocolError, brief, encode_frame
from rain.core.protocol.messages import MESSAGE_TYPES, Message

_ABSENT: Any = object()


def encode(msg: Message) -> bytes:
    """Message -> one complete frame (header included)."""
    return encode_frame(cbor2.dumps(msg.to_wire()))


def decode(payload: bytes) -> Message:
    try:
        body: Any = cbor2.loads(payload)
    except (cbor2.CBORError, ValueError, TypeError, EOFError, RecursionError, MemoryError) as exc:
        raise ProtocolError(f"invalid CBOR: {exc}") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"a message must be a map, got {type(body).__name__}")
    kind = body.pop("type", None)
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown message type {brief(kind)}")
    if not body.keys() <= cls.fields:
        raise ProtocolError(f"{kind}: unexpected fields {sorted(map(str, body.keys() - cls.fields))}")
    for name, expected in cls.field_checks:
        value = body.get(name, _ABSENT)
        if value is not _ABSENT and not isinstance(value, expected):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in expected)
            raise ProtocolError(f"{kind}: field {name!r} must be {names}, not {type(value).__name__}")
    try:
        return cls(**body)
    except TypeError as exc:
        raise ProtocolError(f"{kind}: {exc}") from None
