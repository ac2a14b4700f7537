"""The monitoring HTTP port: HTTP/1.1 with keep-alive over trio, parsed by h11 (sans-IO).

Error handling: every connection is its own error boundary, as on the other ports. A malformed
request gets a 400 and the connection is closed; an unexpected exception in a handler gets a 500
and is logged with the peer; a broken or idle connection is closed. Nothing a peer sends can
stop the server.

Every request goes through `HttpService.dispatch`, the one place where a check that applies to
all requests (such as authentication) belongs. Routes live in `rain.core.server.api`.
"""

from __future__ import annotations

import json
import logging
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import h11
import trio

from rain.core.server.http_auth import HttpAuth

logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
MAX_HEADERS = 64 * 1024
REQUEST_TIMEOUT = 10.0  # to receive a whole request once it has begun
IDLE_TIMEOUT = 60.0  # a kept-alive connection with no request
RECEIVE_SIZE = 65536
SERVER_NAME = b"rain"


class HttpError(Exception):
    """A request refused with `status`; the message is sent as `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@attrs.frozen
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    peer: str
    headers: tuple[tuple[str, str], ...] = ()

    def json(self) -> Any:
        """The body as JSON (an empty body is an empty object); malformed JSON is a 400."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(400, f"the request body is not valid JSON: {exc}") from None


@attrs.frozen
class Response:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(value, separators=(",", ":")).encode(), "application/json")

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json({"error": message}, status)


Handler = Callable[[Request], Awaitable[Response]]


class HttpService:
    """Serves one `handler` on the monitoring port, to the holders of the token of `auth`."""

    def __init__(self, handler: Handler, auth: HttpAuth | None = None) -> None:
        self._handler = handler
        self._auth = auth or HttpAuth()

    async def dispatch(self, request: Request) -> Response:
        """The single entry of every request."""
        decision = self._auth.check(request.query, request.headers)
        if not decision.allowed:
            logger.warning("monitoring request %s %s from %s refused: %s", request.method, request.path,
                           request.peer, decision.reason)
            return attrs.evolve(Response.error(401, decision.reason), headers=(("WWW-Authenticate", "Bearer"),))
        try:
            response = await self._handler(request)
        except HttpError as exc:
            response = Response.error(exc.status, str(exc))
        return attrs.evolve(response, headers=response.headers + decision.headers) if decision.headers else response

    async def handle_connection(self, stream: trio.abc.Stream) -> None:
        peer = _peer_name(stream)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADERS)
        try:
            await self._serve(conn, stream, peer)
        except Exception as exc:
            if isinstance(exc, (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError)):
                logger.debug("monitoring connection from %s closed: %s", peer, exc)
            else:
                logger.exception("internal error while serving monitoring connection from %s; closed", peer)
        finally:
            await stream.aclose()

    async def _serve(self, conn: h11.Connection, stream: trio.abc.Stream, peer: str) -> None:
        while True:
            try:
                request = await _receive_request(conn, stream, peer)
            except h11.RemoteProtocolError as exc:
                logger.warning("bad HTTP request from %s: %s", peer, exc)
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    status = exc.error_status_hint
                    await _send(conn, stream, Response.error(status, f"bad request: {exc}"), close=True)
                return
            if request is None:
                return
            try:
                response = await self.dispatch(request)
            except Exception:
                logger.exception("error in %s %s from %s", request.method, request.path, peer)
                response = Response.error(500, "internal server error (see the server log)")
            await _send(conn, stream, response, head=request.method == "HEAD")
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()


async def _receive_event(conn: h11.Connection, stream: trio.abc.Stream) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = await stream.receive_some(RECEIVE_SIZE)
        conn.receive_data(bytes(data))  # b"" marks the end of the stream


async def _receive_request(conn: h11.Connection, stream: trio.abc.Stream, peer: str) -> Request | None:
    """The next request, or None when the peer closed the connection between requests."""
    with trio.fail_after(IDLE_TIMEOUT):
        event = await _receive_event(conn, stream)
    if isinstance(event, h11.ConnectionClosed):
        return None
    if not isinstance(event, h11.Request):
        raise h11.RemoteProtocolError(f"expected a request, got {type(event).__name__}")
    body = bytearray()
    with trio.fail_after(REQUEST_TIMEOUT):
        while True:
            part = await _receive_event(conn, stream)
            if isinstance(part, h11.EndOfMessage):
                break
            if isinstance(part, h11.ConnectionClosed):
                return None
            body += part.data
            if len(body) > MAX_BODY:
                raise h11.RemoteProtocolError(f"request body over {MAX_BODY} bytes", error_status_hint=413)
    target = event.target.decode("latin-1")
    path, _, query_text = target.partition("?")
    try:
        query = dict(urllib.parse.parse_qsl(query_text, keep_blank_values=True, strict_parsing=False))
    except ValueError as exc:
        raise h11.RemoteProtocolError(f"bad query string: {exc}") from None
    headers = tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in event.headers)
    return Request(event.method.decode("latin-1"), urllib.parse.unquote(path), query, bytes(body), peer, headers)


async def _send(conn: h11.Connection, stream: trio.abc.Stream, response: Response, close: bool = False,
                head: bool = False) -> None:
    """The response in one write; a HEAD request gets the headers of the GET without its body."""
    headers = [("Content-Type", response.content_type), ("Content-Length", str(len(response.body))),
               ("Server", SERVER_NAME.decode()), *response.headers]
    if close:
        headers.append(("Connection", "close"))
    data = conn.send(h11.Response(status_code=response.status, headers=headers))
    if not head:
        data += conn.send(h11.Data(data=response.body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    await stream.send_all(data or b"")


def _peer_name(stream: trio.abc.Stream) -> str:
    if isinstance(stream, trio.SSLStream):  # --tls: the socket is under the TLS layer
        stream = stream.transport_stream
    try:
        host, port = stream.socket.getpeername()[:2]  # type: ignore[attr-defined]
        return f"{host}:{port}"
    except (AttributeError, OSError):
        return "?"


async def serve_http(handler: Handler, host: str, port: int, *, auth: HttpAuth | None = None,
                     ssl_context: ssl.SSLContext | None = None,
                     task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Serves the monitoring port until cancelled (HTTPS with `ssl_context`); `task_status`
    gets the bound port."""
    service = HttpService(handler, auth)
    tcp_listeners = await trio.open_tcp_listeners(port, host=host or None)
    bound = tcp_listeners[0].socket.getsockname()[1]
    listeners: list[trio.abc.Listener[Any]] = list(tcp_listeners)
    if ssl_context is not None:
        listeners = [trio.SSLListener(listener, ssl_context, https_compatible=True) for listener in tcp_listeners]
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, service.handle_connection, listeners)
        task_status.started(bound)
