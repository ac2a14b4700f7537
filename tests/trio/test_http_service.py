"""The monitoring port's HTTP layer on memory streams: keep-alive, the error boundary, the
single dispatch point. No sockets, no server state: a handler stands in for the API."""

from __future__ import annotations

import trio
import trio.testing

from rain.core.server.http import HttpError, HttpService, Request, Response


async def handler(request: Request) -> Response:
    if request.path == "/boom":
        raise RuntimeError("a bug in a handler")
    if request.path == "/refuse":
        raise HttpError(400, "refused: bad 'x'")
    return Response.json({"path": request.path, "query": request.query, "body": request.body.decode()})


async def exchange(data: bytes) -> bytes:
    """Sends `data` (then EOF), returns everything the service answered until it closed."""
    client, server = trio.testing.memory_stream_pair()
    service = HttpService(handler)
    received = bytearray()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(service.handle_connection, server)
            await client.send_all(data)
            await client.send_eof()
            while chunk := await client.receive_some(65536):
                received += chunk
    return bytes(received)


async def test_keep_alive_answers_pipelined_requests_in_order():
    reply = await exchange(b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
                           b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
    assert reply.count(b"HTTP/1.1 200 ") == 2
    assert reply.index(b'"path":"/a","query":{"x":"1"}') < reply.index(b'"path":"/b","query":{},"body":"hi"')


async def test_handler_errors_are_answered_and_the_connection_goes_on():
    reply = await exchange(b"GET /boom HTTP/1.1\r\nHost: h\r\n\r\n"
                           b"GET /refuse HTTP/1.1\r\nHost: h\r\n\r\n"
                           b"GET /fine HTTP/1.1\r\nHost: h\r\n\r\n")
    assert b"HTTP/1.1 500 " in reply and b"internal server error (see the server log)" in reply
    assert b"HTTP/1.1 400 " in reply and b"refused: bad 'x'" in reply
    assert reply.rstrip().endswith(b'"path":"/fine","query":{},"body":""}')


async def test_garbage_gets_a_400_and_the_connection_is_closed():
    reply = await exchange(b"\x16\x03\x01 TLS hello, not HTTP\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in reply


async def test_head_request_gets_headers_only():
    reply = await exchange(b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"\r\n\r\n")


async def test_oversized_body_is_refused():
    reply = await exchange(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 2_000_000)
    assert reply.startswith(b"HTTP/1.1 413 ")
