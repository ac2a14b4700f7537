"""`Client`: one connection to a Rain server, the factory of sessions."""

from __future__ import annotations

import os
from typing import Any

from rain.client.connection import Connection
from rain.client.fetching import GovernorConnections
from rain.client.session import Session
from rain.common.addresses import AddressError, split_address
from rain.common.errors import RainException
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
    """

    def __init__(self, address: str = "localhost", port: int | None = None,
                 access_file: str | os.PathLike[str] | bool | None = None) -> None:
        if port is None:
            try:
                address, port = split_address(address, DEFAULT_PORT)
            except AddressError as exc:
                raise RainException(str(exc)) from None
        if not isinstance(port, int) or not 0 < port < 65536:
            raise RainException(f"invalid port {port!r}")
        if not (access_file is None or access_file is False or isinstance(access_file, str | os.PathLike)):
            raise RainException(f"access_file must be a path, None or False, not {access_file!r}")
        try:
            credentials = find_credentials(access_file, port)
        except AccessError as exc:
            raise RainException(str(exc)) from None
        self._connection = Connection(address, port, credentials)
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
        reply = self.connection.request(m.NewSession, name=name, keep_alive=keep_alive)
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
        reply = self.connection.request(m.AttachSession, session_id=session_id).value  # type: ignore[attr-defined]
        session = Session(self, session_id, name=reply["name"])
        session.keep_alive = True
        session._attached = AttachedObjects(session, reply)
        self._sessions.append(session)
        return session

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
        info = self.connection.request(m.GetServerInfo).value  # type: ignore[attr-defined]
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
