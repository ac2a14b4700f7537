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
from rain.core.server.metrics import render_metrics
from rain.core.server.monitor import Monitor
from rain.core.server.views import MAX_GRAPH_NODES, governors_view, graph_view, ready_count, task_view

if TYPE_CHECKING:
    from rain.core.server.server import Server
    from rain.core.server.state import SessionState

STREAM_LIMIT = 10_000

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

    def __init__(self, server: Server, monitor: Monitor) -> None:
        self.server = server
        self.monitor = monitor

    async def __call__(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method  # the server drops the body
        handler = ROUTES.get((method, request.path))
        if handler is None and method == "GET" and request.path.startswith("/static/"):
            return static_file(request.path.removeprefix("/static/"))
        if handler is None and method == "GET" and request.path.startswith("/api/sessions/"):
            return await self.session_resource(request)
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

    @route("GET", "/api/overview")
    async def overview(self, request: Request) -> Response:
        """Governors (a few), and the sessions and task types changed after version `since`."""
        since = int_param(request, "since", 0)
        monitor = self.monitor
        sessions, types = monitor.sessions_since(since), monitor.types_since(since)
        return Response.json({
            "version": monitor.current_version(), "time": monitor.clock(), "stream_seq": monitor.stream_seq,
            "governors": governors_view(self.server, monitor), "sessions": sessions, "task_types": types,
            "ready_tasks": ready_count(self.server),
        })

    @route("GET", "/api/stream")
    async def stream(self, request: Request) -> Response:
        """Task records after `since` (newest `limit` of them): [seq, governor, task type,
        session, task, start time, duration, failed]."""
        since = int_param(request, "since", 0)
        limit = min(int_param(request, "limit", 1000, minimum=1), STREAM_LIMIT)
        return Response.json({"seq": self.monitor.stream_seq, "time": self.monitor.clock(),
                              "tasks": self.monitor.stream_since(since, limit)})

    @route("GET", "/metrics")
    async def metrics(self, request: Request) -> Response:
        return Response(200, render_metrics(self.server, self.monitor).encode(),
                        "text/plain; version=0.0.4; charset=utf-8")

    async def session_resource(self, request: Request) -> Response:
        """`/api/sessions/ID`, `/api/sessions/ID/graph`, `/api/sessions/ID/tasks/TASK_ID`."""
        parts = request.path.removeprefix("/api/sessions/").split("/")
        session_id = _path_int(parts[0], "session id")
        if len(parts) == 1:
            counts = self.monitor.session_counts(session_id)
            if counts is None:
                raise HttpError(404, f"session {session_id} is unknown or closed long ago")
            return Response.json({**counts.view(), "live": session_id in self.server.sessions})
        session = self._live_session(session_id)
        if parts[1:] == ["graph"]:
            max_nodes = int_param(request, "max_nodes", MAX_GRAPH_NODES, minimum=1)
            return Response.json(await graph_view(session, max_nodes))
        if len(parts) == 3 and parts[1] == "tasks":
            task_id = _path_int(parts[2], "task id")
            task = session.tasks.get(task_id)
            if task is None:
                raise HttpError(404, f"session {session_id} has no task {task_id}")
            return Response.json(task_view(session, task))
        raise HttpError(404, f"no such endpoint: GET {request.path}")

    def _live_session(self, session_id: int) -> SessionState:
        session = self.server.sessions.get(session_id)
        if session is None:
            raise HttpError(404, f"session {session_id} is closed or unknown; only open sessions keep their graph")
        return session

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
        log = self.monitor.log
        if log is None:
            return Response.json([])
        return Response.json(await log.query(query))


ROUTES["GET", "/info"] = MonitoringApi.info


def _path_int(text: str, what: str) -> int:
    if not text.isdigit():
        raise HttpError(400, f"invalid {what} {text!r} in the path")
    return int(text)


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
