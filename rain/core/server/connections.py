"""Per-connection handling on the server: hello, then the client or governor protocol.

Error handling: each connection is its own error boundary. A protocol error, a broken stream
or a hello timeout closes that connection with one log line naming the peer; the server keeps
serving everyone else. Losing a client closes its sessions; losing a governor (its connection
closed, or no message for the heartbeat timeout) runs its work again elsewhere
(`Server.remove_governor`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import trio

from rain.common.addresses import AddressError, split_address
from rain.common.ids import ID
from rain.core.protocol import messages as m
from rain.core.protocol.errors import describe, is_connection_error
from rain.core.protocol.framing import ProtocolError
from rain.core.protocol.stream import Gate, MessageStream, peer_name
from rain.core.server.links import ClientLink, GovernorLink, handling, send_held
from rain.core.server.server import RequestError, Server
from rain.core.server.state import GovernorState
from rain.core.server.submit import SubmitError, check_submit_size

logger = logging.getLogger(__name__)

async def handle_connection(server: Server, gate: Gate, stream: trio.abc.Stream) -> None:
    conn = MessageStream(stream, peer_name(stream))
    try:
        role = await gate.admit(conn)
        if role is None:
            return
        if role == "client":
            await _serve_client(server, conn)
        else:
            await _serve_governor(server, conn)
    except Exception as exc:
        if is_connection_error(exc):
            logger.warning("connection from %s closed: %s", conn.peer, describe(exc))
        else:
            logger.exception("internal error while serving %s; connection closed", conn.peer)
    finally:
        await conn.aclose()


def _stopping(server: Server) -> bool:
    """Whether the server is stopping (this connection is cancelled with everything else): with a
    journal, its sessions must then stay as they are for the next start, not be closed or failed
    because their clients and governors are disconnected."""
    return server.journal is not None and trio.current_effective_deadline() == -math.inf


# --- clients -------------------------------------------------------------------------------


def _ids(values: list[Any]) -> list[ID]:
    try:
        return [ID.from_wire(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise RequestError(f"invalid id in request: {exc}") from None


def _new_session(server: Server, link: ClientLink, msg: m.NewSession) -> None:
    server.acknowledge(link, m.Ok(msg.request_id, server.new_session(link, msg.name, msg.keep_alive)))


def _attach_session(server: Server, link: ClientLink, msg: m.AttachSession) -> m.Message:
    return m.Ok(msg.request_id, server.attach_session(link, msg.session_id, msg.describe))


def _close_session(server: Server, link: ClientLink, msg: m.CloseSession) -> m.Message:
    session = server.sessions.get(msg.session_id)
    if session is not None and (session.client is link or session.keep_alive):
        server.close_session(session)
    return m.Ok(msg.request_id)


def _submit(server: Server, link: ClientLink, msg: m.Submit) -> None:
    try:
        check_submit_size(server.submit_limits, msg.tasks, link.stream.last_frame_size)
    except SubmitError as exc:
        raise RequestError(f"submit refused: {exc}") from None
    server.submit(server.session(link, msg.session_id), msg.tasks, msg.objects, link.stream.last_frame, send_held)
    if server.journal is None:
        link.send_later(m.Ok(msg.request_id))  # pipelined: read with the reply to the next request
    else:
        server.acknowledge(link, m.Ok(msg.request_id))  # once journaled: a restarted server knows it


def _wait(server: Server, link: ClientLink, msg: m.Wait) -> None:
    server.wait(server.session(link, msg.session_id), link, msg.request_id, _ids(msg.ids), msg.all, msg.progress)


def _update(server: Server, link: ClientLink, msg: m.Update) -> m.Message:
    reply = server.update(server.session(link, msg.session_id), _ids(msg.ids))
    reply.request_id = msg.request_id
    return reply


def _fetch(server: Server, link: ClientLink, msg: m.Fetch) -> None:
    server.fetch(server.session(link, msg.session_id), link, msg.request_id, _ids([msg.id])[0])


def _unkeep(server: Server, link: ClientLink, msg: m.Unkeep) -> None:
    server.unkeep(server.session(link, msg.session_id), _ids(msg.ids))
    link.send_later(m.Ok(msg.request_id))  # pipelined: read with the reply to the next request


def _server_info(server: Server, link: ClientLink, msg: m.GetServerInfo) -> m.Message:
    return m.Ok(msg.request_id, server.server_info())


CLIENT_HANDLERS: dict[type[m.Message], Callable[..., m.Message | None]] = {
    m.NewSession: _new_session,
    m.AttachSession: _attach_session,
    m.CloseSession: _close_session,
    m.Submit: _submit,
    m.Wait: _wait,
    m.Update: _update,
    m.Fetch: _fetch,
    m.Unkeep: _unkeep,
    m.GetServerInfo: _server_info,
}


async def _serve_client(server: Server, conn: MessageStream) -> None:
    link = ClientLink(conn)
    server.record_event("ClientNew", client=conn.peer)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(link.serve_writer)
            async for msg in conn:
                handler = CLIENT_HANDLERS.get(type(msg))
                if handler is None:
                    raise ProtocolError(f"unexpected message {msg.kind!r} from a client")
                with handling():
                    try:
                        reply = handler(server, link, msg)
                    except RequestError as exc:
                        reply = m.Error(msg.request_id, str(exc), exc.category.value, exc.task_id)  # type: ignore[attr-defined]
                    if reply is not None:
                        link.send(reply)
            nursery.cancel_scope.cancel()
    finally:
        link.close()
        if not _stopping(server):
            server.client_lost(link)
        server.record_event("ClientLost", client=conn.peer)


# --- governors -----------------------------------------------------------------------------


MAX_GOVERNOR_CPUS = 1 << 20


def _check_registration(msg: m.RegisterGovernor) -> None:
    """Field types are checked by the codec; the values are checked here."""
    if not 0 <= msg.cpus <= MAX_GOVERNOR_CPUS:
        raise ProtocolError(f"register_governor: invalid cpus {msg.cpus}")
    if not all(isinstance(t, str) for t in msg.task_types):
        raise ProtocolError("register_governor: task types must be strings")
    if not all(isinstance(kind, str) and isinstance(names, list) and all(isinstance(n, str) for n in names)
               for kind, names in msg.input_kinds.items()):
        raise ProtocolError("register_governor: input kinds must map task types to lists of strings")
    try:
        split_address(msg.data_address)
    except AddressError:
        raise ProtocolError("register_governor: data_address must be HOST:PORT") from None


def _inventory(rows: list[Any], width: int) -> list[Any]:
    """Checks the rows a registering governor reports: [session, id, ...] with int ids."""
    for row in rows:
        if not (isinstance(row, list) and len(row) == width and all(isinstance(v, int) for v in row[:2])):
            raise ProtocolError(f"register_governor: invalid inventory row {row!r}")
    return rows


def _reset_reason(server: Server, register: m.RegisterGovernor) -> str | None:
    """Why a governor registering again must first drop all it has, or None when its inventory
    is trusted: it comes back to a server restarted on its journal. A server restarted without
    one numbers sessions anew; a governor this server declared lost had its work redone."""
    if register.incarnation is None:
        return None
    if register.incarnation != server.incarnation:
        return "the server restarted without its journal"
    if register.data_address in server.lost_governors:
        return "the server declared this governor lost"
    return None


async def _serve_governor(server: Server, conn: MessageStream) -> None:
    register = await conn.receive_expected(m.RegisterGovernor)
    assert isinstance(register, m.RegisterGovernor)
    _check_registration(register)
    settings = {"delete_timeout": server.delete_timeout, "test_mode": server.test_mode,
                "incarnation": server.incarnation}
    reset = _reset_reason(server, register)
    if reset is not None:
        logger.info("governor %s resets: %s", register.data_address, reset)
        await conn.send(m.Registered(register.data_address, {**settings, "reset": reset}))
        return
    link = GovernorLink(conn)
    gov = GovernorState(register.data_address, register.cpus, frozenset(register.task_types), link,
                        dict(register.input_kinds))
    try:
        server.add_governor(gov, _inventory(register.objects, 3), _inventory(register.tasks, 2))
    except RequestError as exc:
        await conn.send(m.Error(None, str(exc)))
        raise ProtocolError(str(exc)) from None
    logger.info("governor %s registered with %d cpus", gov.id, gov.cpus)
    reason = "its connection closed"
    try:
        timeout = server.heartbeat_timeout
        await conn.send(m.Registered(gov.id, {**settings, "heartbeat_interval": heartbeat_interval(timeout),
                                              "heartbeat_timeout": timeout}))
        with trio.CancelScope() as watchdog:
            await _serve_governor_messages(server, gov, conn, link, watchdog)
        if watchdog.cancelled_caught:
            reason = f"no heartbeat for {timeout:g} s"
            link.close()
            server.remove_governor(gov, reason)
            with trio.move_on_after(min(timeout, 1.0)):  # a frozen governor reads it when it wakes
                await conn.send(m.GovernorDropped(f"declared lost: {reason}"))
    finally:
        link.close()
        if not _stopping(server):
            server.remove_governor(gov, reason)
        logger.info("governor %s disconnected (%s)", gov.id, reason)


def heartbeat_interval(timeout: float) -> float:
    """How often a governor must speak: several times per timeout, at most once a second."""
    return min(1.0, timeout / 4)


async def _serve_governor_messages(server: Server, gov: GovernorState, conn: MessageStream, link: GovernorLink,
                                   watchdog: trio.CancelScope) -> None:
    """Every message is a heartbeat: it moves the time of the last one; missing them for the
    heartbeat timeout cancels the watchdog, and the caller declares the governor lost."""
    now = trio.lowlevel.current_clock().current_time  # what trio.current_time calls, in one call
    heard = [now()]  # when the last message came
    receive, tasks_updated, handler = conn.receive, server.tasks_updated, handling()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(link.serve_writer)
        nursery.start_soon(_watch_heartbeats, server, heard, watchdog)
        # One report comes per two or three finished tasks: what each costs here counts.
        while (msg := await receive()) is not None:
            heard[0] = now()
            if type(msg) is m.TasksUpdated:
                with handler:
                    tasks_updated(gov, msg.finished, msg.failed)
                continue
            if isinstance(msg, m.GovernorStats):
                server.record_event("GovernorStats", governor=gov.id, **{f: getattr(msg, f) for f in msg.fields})
                with handling():
                    server.governor_alive(gov)
                continue
            raise ProtocolError(f"unexpected message {msg.kind!r} from a governor")
        nursery.cancel_scope.cancel()


async def _watch_heartbeats(server: Server, heard: list[float], watchdog: trio.CancelScope) -> None:
    """Cancels `watchdog` once no message has come for the heartbeat timeout. A separate task,
    so that a message only notes the time (moving a cancel scope's deadline per message, a
    heap push each, cost a twentieth of the server's time on graphs of tiny tasks)."""
    while True:
        deadline = heard[0] + server.heartbeat_timeout
        if trio.current_time() >= deadline:
            watchdog.cancel()
            return
        await trio.sleep_until(deadline)
