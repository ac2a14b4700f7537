"""Monitoring over HTTP: a JSON view of the server for dashboards and scripts.

A deliberately small HTTP/1.0 responder (one request per connection): the monitoring port
serves a handful of read-only endpoints, which does not justify a web framework.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import trio

from rain.core.server.server import Server

logger = logging.getLogger(__name__)
MAX_REQUEST = 1024 * 1024


async def _read_request(stream: trio.abc.Stream) -> tuple[str, str, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise ValueError("connection closed before the request was complete")
        data += chunk
        if len(data) > MAX_REQUEST:
            raise ValueError("request too large")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length > MAX_REQUEST:
        raise ValueError("request body too large")
    while len(body) < length:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        body += chunk
    return method, path, body


def _response(status: str, body: bytes, content_type: str) -> bytes:
    head = f"HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n" \
           "Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n"
    return head.encode() + body


def route(server: Server, method: str, path: str, body: bytes) -> tuple[str, Any]:
    path = path.split("?", 1)[0]
    if path in ("/api/info", "/info") and method == "GET":
        return "200 OK", server.server_info()
    if path == "/events" and method == "POST":
        if server.events is None:
            return "200 OK", []
        query = json.loads(body or b"{}")
        return "200 OK", server.events.query(query)
    if path == "/" and method == "GET":
        return "200 OK", None
    return "404 Not Found", {"error": f"no such endpoint: {method} {path}"}


async def handle_http(server: Server, stream: trio.abc.Stream) -> None:
    try:
        with trio.fail_after(10):
            method, path, body = await _read_request(stream)
            status, payload = route(server, method, path, body)
            if payload is None:
                from rain.core.server.dashboard import DASHBOARD_HTML

                data = _response(status, DASHBOARD_HTML.encode(), "text/html; charset=utf-8")
            else:
                data = _response(status, json.dumps(payload).encode(), "application/json")
            await stream.send_all(data)
    except (ValueError, trio.TooSlowError, trio.BrokenResourceError) as exc:
        logger.warning("monitoring request failed: %s", exc)
        try:
            await stream.send_all(_response("400 Bad Request", json.dumps({"error": str(exc)}).encode(),
                                             "application/json"))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
    finally:
        await stream.aclose()


async def serve_http(server: Server, host: str, port: int, *,
                     task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    listeners = await trio.open_tcp_listeners(port, host=host or None)
    bound = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, lambda s: handle_http(server, s), listeners)
        task_status.started(bound)
