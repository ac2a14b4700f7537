"""Sessions: opening, attaching, closing and failing them, and the nodes a request names."""

from __future__ import annotations

from typing import Any

from rain.common.ids import ID
from rain.core.protocol.messages import ErrorCategory
from rain.core.server.base import RequestError
from rain.core.server.state import ObjectNode, SessionState, TaskNode
from rain.core.server.waiters import Waiters


class Sessions(Waiters):
    """A session's end (closed, failed, its client gone) answers its waiters at once."""

    def new_session(self, client: Any, name: str, keep_alive: bool = False) -> int:
        sid = self._next_session_id
        self._open_session(sid, name, client, keep_alive)
        return sid

    def _open_session(self, sid: int, name: str, client: Any, keep_alive: bool) -> None:
        self._next_session_id = max(self._next_session_id, sid + 1)
        self.sessions[sid] = SessionState(sid, name, client, keep_alive)
        self.journal_append(["session", sid, name, keep_alive])
        self.record_event("SessionNew", session=sid, name=name)

    def session(self, client: Any, session_id: int) -> SessionState:
        """The session a client may use: its own, or any keep-alive one (shared by design:
        every client holding the cluster key may attach to it)."""
        session = self.sessions.get(session_id)
        if session is None or (session.client is not client and not session.keep_alive):
            raise RequestError(f"session {session_id} is closed or unknown", ErrorCategory.SESSION)
        return session

    def attach_session(self, client: Any, session_id: int, describe: bool = True) -> dict[str, Any] | None:
        """A client takes a keep-alive session, or a session restored from the journal takes
        its reconnecting client back (`describe` False: no need for the object rows)."""
        session = self.sessions.get(session_id)
        if session is None:
            raise RequestError(f"session {session_id} is closed or unknown", ErrorCategory.SESSION)
        if not session.keep_alive and session.client is not None:
            raise RequestError(f"session {session_id} was not created with keep_alive=True; "
                               "only keep-alive sessions can be attached", ErrorCategory.SESSION)
        self.check_alive(session)
        if session.client is None:
            session.client = client
        if not describe:
            return None
        objects = [[o.id, o.label, o.data_type, o.content_type, o.keep, o.state.value]
                   for o in session.objects.values()]
        last = max(max(session.tasks, default=0), max(session.objects, default=0))
        return {"name": session.name, "objects": objects, "last_id": last}

    def check_alive(self, session: SessionState) -> None:
        if session.error is not None:
            raise RequestError(session.error, ErrorCategory.TASK, session.failed_task)

    def close_session(self, session: SessionState, reason: str = "closed") -> None:
        if session.closed:
            return
        session.closed = True
        self.sessions.pop(session.id, None)
        self._answer_session_waiters(session, RequestError(f"session {session.id} was {reason}",
                                                           ErrorCategory.SESSION))
        if session.error is None:
            self._drop_session_data(session)
        _forget_graph(session)
        self.journal_append(["close", session.id])
        self.record_event("SessionClosed", session=session.id, reason=reason)

    def fail_session(self, session: SessionState, message: str, task: TaskNode | None = None) -> None:
        if not session.alive:
            return
        session.error = message
        session.failed_task = list(task.full_id) if task is not None else None
        self._answer_session_waiters(session, RequestError(message, ErrorCategory.TASK, session.failed_task))
        self._drop_session_data(session)
        self.journal_append(["failed", session.id, message, session.failed_task])
        self.record_event("SessionFailed", session=session.id, message=message,
                          task=task.id if task is not None else None)

    def _drop_session_data(self, session: SessionState) -> None:
        """Tells every governor to cancel the session's tasks and forget its objects."""
        sid = session.id
        for gov in self.governors.values():
            gov.link.drop_session(sid)
            gov.objects = {i for i in gov.objects if i.session_id != sid}
            for oid in [i for i in gov.to_delete if i.session_id == sid]:
                del gov.to_delete[oid]
        for obj in session.objects.values():
            obj.holders.clear()
            obj.data = None
        self.held.drop_session(sid)

    def client_lost(self, client: Any) -> None:
        """Closes the client's sessions, except keep-alive ones, which only forget it."""
        for session in [s for s in self.sessions.values() if s.client is client]:
            if session.keep_alive:
                session.client = None
                for waiter in [w for w in session.waiters if w.link is client]:
                    session.waiters.discard(waiter)
                session.all_waiters = [w for w in session.all_waiters if w.link is not client]
            else:
                self.close_session(session, "closed because its client disconnected")

    def _object(self, session: SessionState, oid: ID) -> ObjectNode:
        obj = session.objects.get(oid.id) if oid.session_id == session.id else None
        if obj is None:
            raise RequestError(f"object {oid} is not submitted in session {session.id}")
        return obj

    def _node(self, session: SessionState, nid: ID) -> TaskNode | ObjectNode:
        node = None
        if nid.session_id == session.id:
            node = session.tasks.get(nid.id) or session.objects.get(nid.id)
        if node is None:
            raise RequestError(f"{nid} is not a submitted task or object of session {session.id}")
        return node


def _forget_graph(session: SessionState) -> None:
    """Breaks the reference cycles of a closed session's graph (node <-> session, task inputs <->
    object consumers), so reference counting frees it at once. The server raises the GC's
    thresholds for speed, and a full collection may not come for a long time."""
    for task in session.tasks.values():
        task.inputs = []
        task.waiters = None
    for obj in session.objects.values():
        obj.consumers = None
        obj.waiters = None
        obj.producer = None
    session.tasks = {}
    session.objects = {}
