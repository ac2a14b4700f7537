"""The trio side of the protocol on memory streams: hello, refusal, timeouts, bad frames."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from rain.core.protocol import messages as m
from rain.core.protocol.codec import encode
from rain.core.protocol.framing import HEADER, ProtocolError
from rain.core.protocol.stream import HELLO_TIMEOUT, MessageStream, accept_hello, send_hello


async def test_hello_handshake():
    a, b = trio.testing.memory_stream_pair()
    server, client = MessageStream(a, "client"), MessageStream(b, "server")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_hello, client, "client")
        assert await accept_hello(server, ("client",)) == "client"


async def test_wrong_version_refused():
    a, b = trio.testing.memory_stream_pair()
    server, client = MessageStream(a), MessageStream(b)
    await client.send(m.Hello(99, "client"))
    with pytest.raises(ProtocolError, match="version"):
        await accept_hello(server, ("client",))
    reply = await client.receive()
    assert isinstance(reply, m.Error) and "version" in reply.message


async def test_wrong_role_refused():
    a, b = trio.testing.memory_stream_pair()
    server, client = MessageStream(a), MessageStream(b)
    await client.send(m.Hello(m.PROTOCOL_VERSION, "executor"))
    with pytest.raises(ProtocolError, match="role"):
        await accept_hello(server, ("client", "governor"))


async def test_hello_timeout(autojump_clock):
    a, _b = trio.testing.memory_stream_pair()
    start = trio.current_time()
    with pytest.raises(trio.TooSlowError):
        await accept_hello(MessageStream(a), ("client",))
    assert trio.current_time() - start == HELLO_TIMEOUT


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
