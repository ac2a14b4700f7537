"""`Client`: one connection to a Rain server, the factory of sessions."""

from __future__ import annotations

import os
import time
from typing import Any

from rain.client.connection import Connection, ConnectionLost, Deferred
from rain.client.fetching import GovernorConnections
from rain.client.session import Session
from rain.common.addresses import AddressError, split_address
from rain.common.errors import RainException, SessionException, TaskException
from rain.common.ids import ID
from rain.core.access import AccessError, find_credentials
from rain.core.protocol import messages as m

DEFAULT_PORT = 7210


class Client:
    """A connection to a Rain server.

    >>> with Client("localhost", 7210) as client:
    ...     with client.new_session() as session: ...

    The cluster key comes from `access_file`, else the file named by RAIN_ACCESS_FILE, else the
    access file the same user's server wrote for this port (~/.rain/access-PORT.json), which is
    what `rain start` uses on one machine or a cluster with a shared home directory.
    `access_file=False` connects without a key (only to a server started with --insecure).

    When the connection drops, the next call (or the `wait` or `fetch` in progress) dials the
    server again for up to `reconnect_timeout` seconds, takes its sessions back and goes on: a
    server restarted on its journal still has them. A session the server no longer knows
    raises `SessionException` naming it.
    """

    def __init__(self, address: str = "localhost", port: int | None = None,
                 access_file: str | os.PathLike[str] | bool | None = None, reconnect_timeout: float = 60.0) -> None:
        if port is None:
            try:
                address, port = split_address(address, DEFAULT_PORT)
            except AddressError as exc:
                raise RainException(str(exc)) from None
        if not isinstance(port, int) or not 0 < port < 65536:
            raise RainException(f"invalid port {port!r}")
        if isinstance(reconnect_timeout, bool) or not isinstance(reconnect_timeout, int | float) \
                or reconnect_timeout < 0:
            raise RainException(f"reconnect_timeout must be a number of seconds >= 0, got {reconnect_timeout!r}")
        if not (access_file is None or access_file is False or isinstance(access_file, str | os.PathLike)):
            raise RainException(f"access_file must be a path, None or False, not {access_file!r}")
        try:
            credentials = find_credentials(access_file, port)
        except AccessError as exc:
            raise RainException(str(exc)) from None
        self._connection = Connection(address, port, credentials)
        self._dial = (address, port, credentials)
        self.reconnect_timeout = float(reconnect_timeout)
        self.governor_connections = GovernorConnections(credentials)  # for fetches from data ports
        self._sessions: list[Session] = []

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise RainException("the client is closed")
        return self._connection

    def new_session(self, name: str = "Unnamed Session", default: bool = False, keep_alive: bool = False) -> Session:
        """A new session (a new task graph) on the server; `default=True` makes it the fallback active session.

        `keep_alive=True`: the session stays on the server when this client disconnects, until
        some client closes it; other processes use it with `attach_session(session.session_id)`."""
        if not isinstance(name, str):
            raise RainException(f"session name must be a string, got {name!r}")
        if not isinstance(keep_alive, bool):
            raise RainException(f"keep_alive must be True or False, got {keep_alive!r}")
        reply = self.request(m.NewSession, name=name, keep_alive=keep_alive)
        session = Session(self, reply.value, default=default, name=name)  # type: ignore[attr-defined]
        session.keep_alive = keep_alive
        self._sessions.append(session)
        return session

    def attach_session(self, session_id: int) -> Session:
        """A keep-alive session made by any client (this process or another), by its id: its
        objects are found with `session.get_object(id or label)`, then waited on, fetched,
        used as inputs of new tasks; `close()` closes it for everyone."""
        from rain.client.attach import AttachedObjects

        if isinstance(session_id, bool) or not isinstance(session_id, int):
            raise RainException(f"session_id must be an int, got {session_id!r}")
        reply = self.request(m.AttachSession, session_id=session_id).value  # type: ignore[attr-defined]
        session = Session(self, session_id, name=reply["name"])
        session.keep_alive = True
        session._attached = AttachedObjects(session, reply)
        self._sessions.append(session)
        return session

    def request(self, cls: Any, session: Session | None = None, **fields: Any) -> m.Message:
        """Sends a request and returns its reply, over a new connection if the old one dropped
        (a request of a `session` the server lost raises the session's error instead)."""
        try:
            return self.connection.request(cls, owner=session, **fields)
        except ConnectionLost as exc:
            self._reconnect(exc)
            if session is not None:
                session._connection()
            return self.connection.request(cls, owner=session, **fields)

    def send_deferred(self, deferred: Deferred) -> None:
        """Sends a request whose reply a later call reads (rain.client.connection); when the
        connection is lost, it goes again on the next one."""
        try:
            self.connection.send_deferred(deferred)
        except ConnectionLost as exc:
            self._reconnect(exc)

    def _submit_landed(self, fields: dict[str, Any]) -> bool:
        """Whether a submit whose answer was lost with the connection reached the server (it is
        acknowledged once journaled): then sending it again would be refused as a duplicate."""
        rows = fields["tasks"] or fields["objects"]
        if not rows:
            return False
        try:
            self.connection.request(m.Update, session_id=fields["session_id"], ids=[[fields["session_id"], rows[0][0]]])
        except RainException:
            return False
        return True

    def _send_again(self, deferred: Deferred) -> None:
        """A deferred request the lost connection did not answer goes again, deferred again
        (a submit only if it did not land)."""
        if deferred.cls is m.Submit and self._submit_landed(deferred.fields):
            return
        self.connection.send_deferred(deferred)

    def _reconnect(self, lost: ConnectionLost) -> None:
        """Dials the server until it answers or `reconnect_timeout` is over, then takes the
        open sessions back; raises `lost` when the server does not come back in time."""
        lost_connection = self.connection
        lost_connection.close()
        deadline = time.monotonic() + self.reconnect_timeout
        delay = 0.05
        while True:
            try:
                self._connection = Connection(*self._dial)
                break
            except ConnectionLost:
                if time.monotonic() + delay > deadline:
                    raise RainException(f"{lost}; the server did not come back within "
                                        f"{self.reconnect_timeout:g} s") from None
                time.sleep(delay)
                delay = min(2 * delay, 1.0)
        for session in self._sessions:
            if session.closed or session._error is not None:
                continue
            try:
                self._connection.request(m.AttachSession, session_id=session.session_id, describe=False)
            except (SessionException, TaskException) as exc:
                session._error = SessionException(
                    f"session {session.session_id} ({session.name!r}) was lost: the server restarted "
                    f"without it (was it started with --journal?): {exc}")
        self._connection.keep_refused(lost_connection)
        for deferred in lost_connection.pending_deferred():
            owner = deferred.owner
            if not isinstance(owner, Session) or owner._error is None:
                self._send_again(deferred)

    def update(self, items: Any) -> None:
        """Refreshes state and info of the given tasks / objects (of any of this client's sessions)."""
        from rain.client.session import _flatten

        by_session: dict[Session, list[Any]] = {}
        for item in _flatten(items):
            session = getattr(item, "session", None)
            if session is None or session.client is not self:
                raise RainException(f"{item!r} is not a task or data object of this client")
            by_session.setdefault(session, []).append(item)
        for session, group in by_session.items():
            session.update(group)

    def get_server_info(self) -> dict[str, Any]:
        """The governors: id, resources, free CPUs, task types, running tasks and stored objects."""
        info = self.request(m.GetServerInfo).value  # type: ignore[attr-defined]
        for gov in info["governors"]:
            for key in ("tasks", "objects", "objects_to_delete"):
                gov[key] = [ID.from_wire(i) for i in gov[key]]
        return info

    def close(self) -> None:
        """Closes the connection; the server closes every session of this client."""
        if self._connection is not None:
            for session in self._sessions:
                session._mark_closed()
            self._connection.close()
            self._connection = None  # type: ignore[assignment]
            self.governor_connections.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self._connection.address if self._connection else 'closed'}>"
