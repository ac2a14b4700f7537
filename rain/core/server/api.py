"""Routes of the monitoring port: the JSON API, `/metrics` and the dashboard's static files.

Every route validates its parameters and answers a clear 400 naming the problem. Every route
the dashboard polls costs O(what changed since the poller's last call), never O(graph).
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rain.core.server.events import EventQuery, QueryError
from rain.core.server.http import HttpError, Request, Response

if TYPE_CHECKING:
    from rain.core.server.server import Server

STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
Route = Callable[["MonitoringApi", Request], Awaitable[Response]]
ROUTES: dict[tuple[str, str], Route] = {}


def route(method: str, path: str) -> Callable[[Route], Route]:
    def register(fn: Route) -> Route:
        ROUTES[method, path] = fn
        return fn

    return register


def int_param(request: Request, name: str, default: int, minimum: int = 0) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise HttpError(400, f"parameter {name!r} must be an integer, got {text!r}") from None
    if value < minimum:
        raise HttpError(400, f"parameter {name!r} must be at least {minimum}, got {value}")
    return value


class MonitoringApi:
    """The request handler of the monitoring port, reading the server's state and counters."""

    def __init__(self, server: Server) -> None:
        self.server = server

    async def __call__(self, request: Request) -> Response:
        handler = ROUTES.get((request.method, request.path))
        if handler is None and request.method == "GET" and request.path.startswith("/static/"):
            return static_file(request.path.removeprefix("/static/"))
        if handler is None:
            if request.method not in ("GET", "POST", "HEAD"):
                raise HttpError(405, f"method {request.method} is not allowed")
            raise HttpError(404, f"no such endpoint: {request.method} {request.path}")
        return await handler(self, request)

    @route("GET", "/")
    async def index(self, request: Request) -> Response:
        return static_file("index.html")

    @route("GET", "/api/info")
    async def info(self, request: Request) -> Response:
        return Response.json(self.server.server_info())

    @route("POST", "/events")
    async def events_post(self, request: Request) -> Response:
        return await self._events(request.json())

    @route("GET", "/events")
    async def events_get(self, request: Request) -> Response:
        query: dict[str, object] = {}
        for name in ("since", "limit"):
            if name in request.query:
                query[name] = int_param(request, name, 0)
        if "type" in request.query:
            query["event_types"] = [{"value": request.query["type"]}]
        return await self._events(query)

    async def _events(self, filters: object) -> Response:
        try:
            query = EventQuery.parse(filters)
        except QueryError as exc:
            raise HttpError(400, f"invalid event query: {exc}") from None
        log = getattr(self.server.events, "log", self.server.events)
        if log is None:
            return Response.json([])
        return Response.json(await log.query(query))


ROUTES["GET", "/info"] = MonitoringApi.info


@functools.cache
def _read_static(name: str) -> bytes | None:
    """A file of the dashboard, shipped inside the package (read once, then kept)."""
    resource = importlib.resources.files("rain.core.server").joinpath("static", name)
    try:
        return resource.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def static_file(name: str) -> Response:
    suffix = name[name.rfind("."):] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in STATIC_TYPES:
        raise HttpError(404, f"no such file: {name}")
    data = _read_static(name)
    if data is None:
        raise HttpError(404, f"no such file: {name}")
    return Response(200, data, STATIC_TYPES[suffix], (("Cache-Control", "no-cache"),))
