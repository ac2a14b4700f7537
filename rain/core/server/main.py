"""The server process: listeners, the deletion loop and the monitoring HTTP port."""

from __future__ import annotations

import functools
import logging
import uuid
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
from rain.core.server.journal import Journal, collector_paused
from rain.core.server.monitor import Monitor
from rain.core.server.progress import serve_progress
from rain.core.server.restore import close_unclaimed, end_restore, restore
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
    journal: str | None = None  # the journal file: sessions survive a restart on the same file
    restore_grace: float = 60.0  # how long a restored server waits for its governors to come back
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


def open_journal(server: Server, path: str | None) -> Journal | None:
    """Restores the server from the journal at `path` and appends to it from now on.
    Raises `JournalError` when the file is not a journal."""
    if path is None:
        server.incarnation = uuid.uuid4().hex
        return None
    journal = Journal(path)
    with collector_paused():
        journal.open()
        server.incarnation = journal.incarnation
        if journal.restored:
            restore(server, journal.restored)
            journal.restored = []
    server.journal = journal
    return journal


CLIENTS_GRACE = 60.0  # after a restore, how long clients have to take their sessions back (at least)


async def end_restore_after(server: Server, grace: float) -> None:
    """Schedules again after `grace` even if governors are missing; `CLIENTS_GRACE` (or `grace`
    if longer) later, closes the restored sessions that no client took back (keep-alive ones stay)."""
    await trio.sleep(grace)
    end_restore(server)
    await trio.sleep(max(grace, CLIENTS_GRACE))
    close_unclaimed(server)


async def serve_server(config: ServerConfig, listeners: Sequence[trio.SocketListener], *,
                       task_status: trio.TaskStatus[RunningServer] = trio.TASK_STATUS_IGNORED) -> None:
    events = EventLog(config.logdir)
    monitor = Monitor(events)
    server = Server(delete_timeout=config.delete_timeout, test_mode=config.test_mode, events=monitor,
                    submit_limits=config.submit_limits, heartbeat_timeout=config.heartbeat_timeout,
                    max_governor_losses=config.max_governor_losses)
    journal = open_journal(server, config.journal)
    gate = Gate(("client", "governor"), config.credentials, config.limits, server.refused)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(events.serve)
        if journal is not None:
            nursery.start_soon(journal.serve)
        if server.restoring is not None:
            nursery.start_soon(end_restore_after, server, config.restore_grace)
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
