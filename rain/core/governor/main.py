"""The governor process: registers at the server, serves its data port, runs tasks.

The governor outlives a lost server connection: it keeps its tasks running and its objects
stored, dials the server again for `reconnect_timeout` seconds and registers with what it holds
(`ServerLink`); only when the server stays away that long is the top nursery cancelled, and
every running task with it.
"""

from __future__ import annotations

import functools
import logging
import os
import socket

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
from rain.core.protocol.errors import CONNECTION_ERRORS, describe, is_connection_error
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
    reconnect_timeout: float = 300.0  # how long to dial a lost server before stopping


def _data_host(config: GovernorConfig, server_stream: trio.abc.Stream) -> str:
    """The host peers should use: the listen host, or the address we reach the server from."""
    if config.listen_host not in WILDCARD_HOSTS:
        return config.listen_host
    return _tcp_stream(server_stream).socket.getsockname()[0]


def _tcp_stream(stream: trio.abc.Stream) -> trio.SocketStream:
    while isinstance(stream, trio.SSLStream):  # --tls: the socket is under the TLS layer
        stream = stream.transport_stream
    assert isinstance(stream, trio.SocketStream)
    return stream


def bound_silence(stream: trio.abc.Stream, seconds: float) -> None:
    """Lets the kernel drop the server connection when what we send stays unacknowledged for
    `seconds` (TCP_USER_TIMEOUT; Linux), as the server drops us after as long a silence.

    Without it, a server behind a silent partition (no FIN, no RST) is noticed only when TCP
    gives up retransmitting, a quarter of an hour later; the heartbeats we send every
    `heartbeat_interval` are what goes unacknowledged, so the drop comes within the timeout
    plus one interval, and the reconnect loop starts dialling."""
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if option is not None:
        _tcp_stream(stream).socket.setsockopt(socket.IPPROTO_TCP, option, max(1, round(seconds * 1000)))


async def serve_governor(config: GovernorConfig, task_types: dict[str, TaskType], *,
                         task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    store = ObjectStore(config.workdir)
    listeners = await trio.open_tcp_listeners(config.listen_port, host=config.listen_host or None)
    port = listeners[0].socket.getsockname()[1]
    conn = await _connect(config)  # outside the nursery: a refusal is one plain error
    data_address = join_address(_data_host(config, conn.stream), port)  # the server names us so
    reporter = Reporter()
    gate = Gate(("governor-data", "client"), config.credentials, config.data_limits)
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, functools.partial(handle_data_connection, store, gate), listeners)
        runner = TaskRunner(nursery, store, task_types, reporter, data_address, config.cpus, config.credentials)
        link = ServerLink(config, task_types, data_address, runner, reporter, store)
        await link.register(conn)
        assert link.conn is not None
        conn = link.conn
        task_status.started(data_address)
        while True:
            dropped = await link.serve(conn)
            if dropped is not None:
                await link.forget_all(dropped)
            reconnected = await link.reconnect()
            if reconnected is None:
                break
            conn = reconnected
        nursery.cancel_scope.cancel()


async def _connect(config: GovernorConfig) -> MessageStream:
    try:
        return await open_message_stream(config.server_address, "governor", config.credentials)
    except OSError as exc:
        raise ConnectionError(f"cannot connect to rain server at {config.server_address}: {exc}") from None


@attrs.define(eq=False)
class ServerLink:
    """The governor's side of its server connection, which may be lost and made again.

    The runner, the store and the unsent reports outlive a connection: after a drop the
    governor keeps running its tasks and keeping its objects, dials again with backoff for
    `reconnect_timeout` seconds and registers with its inventory. A server of another
    incarnation (restarted without its journal) asks for a reset instead, and so does a server
    that declared this governor lost (`GovernorDropped`): nothing it held is trusted any more."""

    config: GovernorConfig
    task_types: dict[str, TaskType]
    data_address: str
    runner: TaskRunner
    reporter: Reporter
    store: ObjectStore
    incarnation: str | None = None
    conn: MessageStream | None = None  # the registered connection
    heartbeat: float = STATS_PERIOD  # how often the stats (our heartbeats) go out

    async def register(self, conn: MessageStream) -> None:
        objects, tasks = self.runner.inventory() if self.incarnation is not None else ([], [])
        input_kinds = {name: list(t.inputs) for name, t in self.task_types.items() if t.inputs is not None}
        await conn.send(m.RegisterGovernor(self.config.cpus, self.data_address, sorted(self.task_types), input_kinds,
                                           self.incarnation, objects, tasks))
        registered = await conn.receive_expected(m.Registered)
        assert isinstance(registered, m.Registered)
        settings = registered.settings
        if reset := settings.get("reset"):
            await conn.aclose()
            logger.warning("%s: dropping every task and object", reset if isinstance(reset, str) else "reset")
            await self._reset()
            await self.register(await _connect(self.config))
            return
        self.incarnation = settings.get("incarnation")
        interval = settings.get("heartbeat_interval")
        self.heartbeat = (min(STATS_PERIOD, interval) if isinstance(interval, int | float) and interval > 0
                          else STATS_PERIOD)
        timeout = settings.get("heartbeat_timeout")
        if isinstance(timeout, int | float) and timeout > 0:
            bound_silence(conn.stream, timeout)
        self.conn = conn
        logger.info("governor %s registered at %s (%d cpus, %d objects and %d tasks reported)", self.data_address,
                    self.config.server_address, self.config.cpus, len(objects), len(tasks))

    async def forget_all(self, reason: str) -> None:
        """The server declared this governor lost: all it had is dropped, and it registers
        again (through `reconnect`: the network that made it look lost may still be down)."""
        logger.warning("the server dropped governor %s (%s); it registers again as a new governor",
                       self.data_address, reason)
        await self._reset()

    async def _reset(self) -> None:
        await self.runner.reset()
        for oid in list(self.store.objects):
            self.store.delete(oid)
        self.incarnation = None

    async def serve(self, conn: MessageStream) -> str | None:
        """Serves one connection until it drops (None) or the server drops this governor (the reason)."""
        runner = self.runner
        dropped = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.reporter.serve, conn)
                nursery.start_soon(serve_stats, conn, self.store, self.heartbeat)  # the stats are the heartbeats
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
                nursery.cancel_scope.cancel()
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            logger.error("connection to the server failed: %s", describe(exc))
        finally:
            with trio.CancelScope(shield=True):
                await conn.aclose()
        return dropped

    async def reconnect(self) -> MessageStream | None:
        """Dials the server with backoff until it registers us again or time is up (None)."""
        timeout = self.config.reconnect_timeout
        logger.warning("reconnecting to the server for up to %g s", timeout)
        delay = 0.05
        with trio.move_on_after(timeout):
            while True:
                try:
                    conn = await open_message_stream(self.config.server_address, "governor", self.config.credentials)
                    await self.register(conn)
                    return self.conn  # the last one registered
                except (OSError, *CONNECTION_ERRORS) as exc:
                    logger.info("reconnecting to %s: %s", self.config.server_address, exc)
                await trio.sleep(delay)
                delay = min(delay * 2, 2.0)
        logger.info("no server within %g s; governor %s stops", timeout, self.data_address)
        return None


def default_workdir() -> str:
    return os.path.join(os.environ.get("TMPDIR", "/tmp"), f"rain-governor-{os.getpid()}")
