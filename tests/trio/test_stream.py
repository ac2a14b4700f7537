"""The trio side of the protocol on memory streams: hello, refusal, timeouts, bad frames
(the key check itself: tests/trio/test_handshake.py)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from rain.core.protocol import messages as m
from rain.core.protocol.auth import INSECURE
from rain.core.protocol.codec import encode
from rain.core.protocol.framing import HEADER, ProtocolError
from rain.core.protocol.stream import Gate, MessageStream, connect_handshake


async def test_hello_handshake():
    a, b = trio.testing.memory_stream_pair()
    server, client = MessageStream(a, "client"), MessageStream(b, "server")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(connect_handshake, client, "client", INSECURE)
        assert await Gate(("client",), INSECURE).admit(server) == "client"


async def test_wrong_version_refused():
    a, b = trio.testing.memory_stream_pair()
    server, client = MessageStream(a), MessageStream(b)
    await client.send(m.Hello(99, "client"))
    gate = Gate(("client",), INSECURE)
    assert await gate.admit(server) is None
    assert gate.refused == {"protocol": 1}
    reply = await client.receive()
    assert isinstance(reply, m.Error) and "version" in reply.message


async def test_wrong_role_refused():
    a, b = trio.testing.memory_stream_pair()
    server, client = MessageStream(a), MessageStream(b)
    await client.send(m.Hello(m.PROTOCOL_VERSION, "executor"))
    assert await Gate(("client", "governor"), INSECURE).admit(server) is None
    reply = await client.receive()
    assert isinstance(reply, m.Error) and "role 'executor' not accepted" in reply.message


async def test_oversized_frame_on_stream():
    a, b = trio.testing.memory_stream_pair()
    stream = MessageStream(a, max_frame_size=10)
    await b.send_all(HEADER.pack(11) + b"x" * 11)
    with pytest.raises(ProtocolError, match="exceeds"):
        await stream.receive()


async def test_truncated_frame_then_eof():
    a, b = trio.testing.memory_stream_pair()
    stream = MessageStream(a)
    await b.send_all(encode(m.Hello(1, "client"))[:-2])
    await b.aclose()
    with pytest.raises(ProtocolError, match="inside a frame"):
        await stream.receive()


async def test_clean_eof():
    a, b = trio.testing.memory_stream_pair()
    stream = MessageStream(a)
    await b.send_all(encode(m.Ok(1)))
    await b.aclose()
    assert await stream.receive() == m.Ok(1)
    assert await stream.receive() is None
