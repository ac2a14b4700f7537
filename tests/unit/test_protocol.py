"""Framing and codec: frames split anywhere, limits, and every kind of malformed payload."""

from __future__ import annotations

import random

import cbor2
import pytest

from rain.core.protocol import messages as m
from rain.core.protocol.codec import decode, encode
from rain.core.protocol.framing import (
    COPY_ONCE_FROM,
    HEADER,
    FrameReader,
    FrameTooLarge,
    ProtocolError,
    encode_frame,
)


def test_round_trip_every_split_point():
    frames = encode(m.Hello(1, "client")) + encode(m.Ok(7, {"a": [1, 2]}))
    for split in range(len(frames) + 1):
        reader = FrameReader()
        reader.feed(frames[:split])
        got = []
        while (f := reader.next_frame()) is not None:
            got.append(decode(f))
        reader.feed(frames[split:])
        while (f := reader.next_frame()) is not None:
            got.append(decode(f))
        assert got == [m.Hello(1, "client"), m.Ok(7, {"a": [1, 2]})]
        assert reader.pending == 0


def test_a_read_of_exactly_one_frame_is_cut_from_the_read_buffer():
    """`feed_read` returns a read that is one whole frame; anything else (part of a frame, two,
    bytes already pending, a frame over the limit) goes through the reader as `feed` would."""
    one, two = encode(m.Ok(1, {"a": 1})), encode(m.Ok(2, None))
    buffer = bytearray(4096)

    def read(reader: FrameReader, data: bytes) -> bytes | None:
        buffer[:len(data)] = data
        return reader.feed_read(buffer, len(data))

    reader = FrameReader()
    assert decode(read(reader, one)) == m.Ok(1, {"a": 1}) and reader.pending == 0
    assert read(reader, one[:5]) is None and reader.next_frame() is None
    assert read(reader, one[5:]) is None and decode(reader.next_frame()) == m.Ok(1, {"a": 1})
    assert read(reader, one + two) is None
    assert [decode(reader.next_frame()), decode(reader.next_frame())] == [m.Ok(1, {"a": 1}), m.Ok(2, None)]
    assert read(reader, two[:3]) is None and read(reader, two[3:] + one) is None  # pending first
    assert [decode(reader.next_frame()), decode(reader.next_frame())] == [m.Ok(2, None), m.Ok(1, {"a": 1})]
    small = FrameReader(max_frame_size=len(one) - HEADER.size - 1)
    assert read(small, one) is None
    with pytest.raises(FrameTooLarge):
        small.next_frame()


def test_random_chunks_many_frames():
    rng = random.Random(1234)
    msgs = [m.Wait(i, 3, [[3, j] for j in range(i % 5)]) for i in range(500)]
    data = b"".join(encode(msg) for msg in msgs)
    reader = FrameReader()
    got = []
    pos = 0
    while pos < len(data):
        n = rng.randint(1, 300)
        reader.feed(data[pos : pos + n])
        pos += n
        while (f := reader.next_frame()) is not None:
            got.append(decode(f))
    assert got == msgs


def test_big_and_small_frames_interleaved_in_random_chunks():
    """Frames from COPY_ONCE_FROM bytes are cut out through a memoryview, smaller ones by slicing."""
    rng = random.Random(99)
    msgs = [m.DataChunk(bytes([i]) * size) for i, size in enumerate([10, COPY_ONCE_FROM, 5, 3 * COPY_ONCE_FROM, 0])]
    data = b"".join(encode(msg) for msg in msgs)
    reader = FrameReader()
    got = []
    pos = 0
    while pos < len(data):
        n = rng.randint(1, 2 * COPY_ONCE_FROM)
        reader.feed(data[pos : pos + n])
        pos += n
        while (f := reader.next_frame()) is not None:
            got.append(decode(f))
    assert got == msgs and reader.pending == 0


def test_oversized_frame_rejected_from_header():
    reader = FrameReader(max_frame_size=100)
    reader.feed(HEADER.pack(101))
    with pytest.raises(FrameTooLarge):
        reader.next_frame()


def test_truncated_frame_is_pending():
    reader = FrameReader()
    reader.feed(encode(m.Hello(1, "client"))[:-1])
    assert reader.next_frame() is None
    assert reader.pending > 0


@pytest.mark.parametrize(
    "payload,match",
    [
        (b"\xff\xff\xff", "invalid CBOR"),
        (cbor2.dumps([1, 2]), "must be a map"),
        (cbor2.dumps({"type": "no_such"}), "unknown message type"),
        (cbor2.dumps({"x": 1}), "unknown message type"),
        (cbor2.dumps({"type": "hello", "version": 1}), "hello"),
        (cbor2.dumps({"type": "hello", "version": 1, "role": "client", "extra": 1}), "unexpected fields"),
    ],
)
def test_malformed_payloads(payload, match):
    with pytest.raises(ProtocolError, match=match):
        decode(payload)


def test_encode_frame_header():
    assert encode_frame(b"abc") == b"\x00\x00\x00\x03abc"


def test_a_second_message_class_of_one_kind_is_refused():
    with pytest.raises(TypeError, match="duplicate message kind 'hello'"):

        @m.message("hello")
        class AnotherHello(m.Message):
            version: int

    assert m.MESSAGE_TYPES["hello"] is m.Hello  # the registry still decodes hellos as before


def test_every_kind_decodes_to_the_class_that_declares_it():
    for kind, cls in m.MESSAGE_TYPES.items():
        assert cls.kind == kind
        body = {name: cls.field_types.get(name, (type(None),))[0]() for name in cls.fields}  # 0, "", [] ...
        assert type(decode(cbor2.dumps({"type": kind, **body}))) is cls


def test_every_kind_encodes_every_field_and_decodes_back_equal():
    """Each class's generated `to_wire` carries all its fields and its kind, nothing else."""
    for kind, cls in m.MESSAGE_TYPES.items():
        body = {name: cls.field_types.get(name, (type(None),))[0]() for name in cls.fields}
        msg = cls(**body)
        assert msg.to_wire() == {"type": kind, **body}
        assert decode(encode(msg)[HEADER.size:]) == msg
    assert m.Wait(4, 1, [[1, 2]], all=True).to_wire() == {
        "type": "wait", "request_id": 4, "session_id": 1, "ids": [[1, 2]], "all": True, "progress": False}


def test_field_types_are_checked_at_decode():
    """A peer's wrong types are a ProtocolError naming the field, not a TypeError in a handler."""
    with pytest.raises(ProtocolError, match=r"close_session: field 'session_id' must be int, not list"):
        decode(cbor2.dumps({"type": "close_session", "request_id": 1, "session_id": [1]}))
    with pytest.raises(ProtocolError, match=r"hello: field 'nonce' must be bytes or null, not str"):
        decode(cbor2.dumps({"type": "hello", "version": 2, "role": "client", "nonce": "x"}))
    value = {"any": ["thing"]}
    assert decode(cbor2.dumps({"type": "ok", "request_id": 3, "value": value})) == m.Ok(3, value)
