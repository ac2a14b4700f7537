"""The server process: listeners, the deletion loop and the monitoring HTTP port."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

import attrs
import trio

from rain.core.protocol.auth import INSECURE, Credentials
from rain.core.protocol.stream import EndpointLimits, Gate
from rain.core.server.api import MonitoringApi
from rain.core.server.connections import handle_connection
from rain.core.server.events import EventLog
from rain.core.server.http import serve_http
from rain.core.server.http_auth import HttpAuth
from rain.core.server.monitor import Monitor
from rain.core.server.progress import serve_progress
from rain.core.server.server import Server
from rain.core.server.submit import SubmitLimits

logger = logging.getLogger(__name__)


@attrs.frozen
class ServerConfig:
    delete_timeout: float = 2.0
    test_mode: bool = False
    logdir: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int | None = None
    credentials: Credentials = INSECURE
    limits: EndpointLimits = attrs.field(factory=EndpointLimits)
    submit_limits: SubmitLimits = attrs.field(factory=SubmitLimits)
    heartbeat_timeout: float = 10.0
    max_governor_losses: int = 3


@attrs.frozen
class RunningServer:
    server: Server
    http_port: int | None


async def serve_deletions(server: Server) -> None:
    period = min(max(server.delete_timeout / 4, 0.05), 0.5)
    while True:
        await trio.sleep(period)
        server.run_deletions()


async def serve_server(config: ServerConfig, listeners: Sequence[trio.SocketListener], *,
                       task_status: trio.TaskStatus[RunningServer] = trio.TASK_STATUS_IGNORED) -> None:
    events = EventLog(config.logdir)
    monitor = Monitor(events)
    server = Server(delete_timeout=config.delete_timeout, test_mode=config.test_mode, events=monitor,
                    submit_limits=config.submit_limits, heartbeat_timeout=config.heartbeat_timeout,
                    max_governor_losses=config.max_governor_losses)
    gate = Gate(("client", "governor"), config.credentials, config.limits, server.refused)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(events.serve)
        await nursery.start(trio.serve_listeners, functools.partial(handle_connection, server, gate), listeners)
        nursery.start_soon(serve_deletions, server)
        nursery.start_soon(serve_progress, server.progress)
        http_port = None
        if config.http_port is not None:
            api = MonitoringApi(server, monitor)
            auth = HttpAuth.for_key(config.credentials.key, secure_cookie=config.credentials.tls)
            http_port = await nursery.start(functools.partial(
                serve_http, api, config.http_host, config.http_port, auth=auth,
                ssl_context=config.credentials.server_ssl))
        task_status.started(RunningServer(server, http_port))
        await trio.sleep_forever()
