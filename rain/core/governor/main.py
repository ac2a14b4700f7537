"""The governor process: registers at the server, serves its data port, runs tasks.

The governor lives as long as its server connection: when the server goes away, the top
nursery is cancelled and every running task is cancelled with it.
"""

from __future__ import annotations

import functools
import logging
import os

import attrs
import trio

from rain.common.addresses import join_address
from rain.common.ids import ID
from rain.core.governor.data_service import handle_data_connection
from rain.core.governor.reports import Reporter
from rain.core.governor.runner import TaskRunner
from rain.core.governor.stats import STATS_PERIOD, serve_stats
from rain.core.governor.store import ObjectStore
from rain.core.protocol import messages as m
from rain.core.protocol.auth import INSECURE, Credentials
from rain.core.protocol.framing import ProtocolError
from rain.core.protocol.stream import EndpointLimits, Gate, MessageStream, open_message_stream
from rain.plugins.api import TaskType

logger = logging.getLogger(__name__)

WILDCARD_HOSTS = ("", "0.0.0.0", "::")


@attrs.frozen
class GovernorConfig:
    server_address: str
    cpus: int
    workdir: str
    listen_host: str = ""
    listen_port: int = 0
    credentials: Credentials = INSECURE
    data_limits: EndpointLimits = attrs.field(factory=EndpointLimits)  # of the data port


def _data_host(config: GovernorConfig, server_stream: trio.abc.Stream) -> str:
    """The host peers should use: the listen host, or the address we reach the server from."""
    if config.listen_host not in WILDCARD_HOSTS:
        return config.listen_host
    if isinstance(server_stream, trio.SSLStream):  # --tls: the socket is under the TLS layer
        server_stream = server_stream.transport_stream
    return server_stream.socket.getsockname()[0]  # type: ignore[attr-defined]


async def serve_governor(config: GovernorConfig, task_types: dict[str, TaskType], *,
                         task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Registers and serves until the server connection ends. When the server declares this
    governor lost (it missed heartbeats, e.g. frozen by SIGSTOP), it drops every task and
    object and registers again as a new governor; the data port stays the same."""
    store = ObjectStore(config.workdir)
    listeners = await trio.open_tcp_listeners(config.listen_port, host=config.listen_host or None)
    port = listeners[0].socket.getsockname()[1]
    gate = Gate(("governor-data", "client"), config.credentials, config.data_limits)
    conn = await _connect(config)  # outside the nursery: a refusal is one plain error
    governor_id, heartbeat = await _register(config, conn, task_types, port)
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, functools.partial(handle_data_connection, store, gate), listeners)
        task_status.started(governor_id)
        while True:
            dropped = await _serve_registration(config, conn, store, task_types, governor_id, heartbeat)
            await conn.aclose()
            if dropped is None:
                break
            logger.warning("the server dropped governor %s (%s); it registers again as a new governor",
                           governor_id, dropped)
            for oid in list(store.objects):
                store.delete(oid)
            conn = await _connect(config)
            governor_id, heartbeat = await _register(config, conn, task_types, port)
        nursery.cancel_scope.cancel()


async def _connect(config: GovernorConfig) -> MessageStream:
    try:
        return await open_message_stream(config.server_address, "governor", config.credentials)
    except OSError as exc:
        raise ConnectionError(f"cannot connect to rain server at {config.server_address}: {exc}") from None


async def _register(config: GovernorConfig, conn: MessageStream, task_types: dict[str, TaskType],
                    port: int) -> tuple[str, float]:
    """Registers; returns the governor's id and how often it must send a heartbeat."""
    host = _data_host(config, conn.stream)
    data_address = join_address(host, port)
    input_kinds = {name: list(t.inputs) for name, t in task_types.items() if t.inputs is not None}
    await conn.send(m.RegisterGovernor(config.cpus, data_address, sorted(task_types), input_kinds))
    registered = await conn.receive_expected(m.Registered)
    assert isinstance(registered, m.Registered)
    settings = registered.settings
    interval = settings.get("heartbeat_interval") if isinstance(settings, dict) else None
    heartbeat = min(STATS_PERIOD, interval) if isinstance(interval, int | float) and interval > 0 else STATS_PERIOD
    logger.info("governor %s registered at %s (%d cpus)", registered.governor_id, config.server_address, config.cpus)
    return registered.governor_id, heartbeat


async def _serve_registration(config: GovernorConfig, conn: MessageStream, store: ObjectStore,
                              task_types: dict[str, TaskType], governor_id: str, heartbeat: float) -> str | None:
    """Runs the server's commands until the connection ends (None) or the server drops this
    governor (the reason); every task of this registration is over when it returns."""
    reporter = Reporter()
    dropped = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(reporter.serve, conn)
        nursery.start_soon(serve_stats, conn, store, heartbeat)  # the stats are the heartbeats
        runner = TaskRunner(nursery, store, task_types, reporter, governor_id, config.cpus, config.credentials)
        try:
            async for msg in conn:
                if isinstance(msg, m.AssignTasks):
                    for item in msg.tasks:
                        runner.start(item)
                elif isinstance(msg, m.DeleteObjects):
                    runner.delete_objects([ID.from_wire(value) for value in msg.ids])
                elif isinstance(msg, m.DropSession):
                    runner.drop_session(msg.session_id)
                elif isinstance(msg, m.PeerLost):
                    runner.peer_lost(msg.data_address)
                elif isinstance(msg, m.GovernorDropped):
                    dropped = msg.reason
                    break
                else:
                    raise ProtocolError(f"unexpected message {msg.kind!r} from the server")
        except (ProtocolError, trio.BrokenResourceError) as exc:
            logger.error("connection to the server failed: %s", exc)
        if dropped is None:
            logger.info("server connection closed; governor %s stops", governor_id)
        nursery.cancel_scope.cancel()
    return dropped


def default_workdir() -> str:
    return os.path.join(os.environ.get("TMPDIR", "/tmp"), f"rain-governor-{os.getpid()}")
