"""Client queries: wait, fetch, update and the server's info."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rain.common.ids import ID
from rain.common.rows import NodeUpdate
from rain.common.states import DataObjectState, TaskState
from rain.core.protocol import messages as m
from rain.core.server.base import RequestError
from rain.core.server.sessions import Sessions
from rain.core.server.state import ObjectNode, SessionState, TaskNode, Waiter

FINISHED = DataObjectState.finished


class ClientQueries(Sessions):
    """What a client asks about its session; a request that must wait leaves a waiter."""

    def wait(self, session: SessionState, link: Any, request_id: int, ids: list[ID], wait_all: bool,
             progress: bool = False) -> None:
        self.check_alive(session)
        if wait_all:
            if session.unfinished_tasks == 0:
                link.send(m.Ok(request_id))
            else:
                waiter = Waiter(link, request_id, 1)
                session.all_waiters.append(waiter)
                session.waiters.add(waiter)
                if progress:
                    self.progress.watch(session, waiter, None)
            return
        nodes = [self._node(session, i) for i in ids]
        pending = [n for n in nodes if not _is_done(n)]
        if not pending:
            link.send(m.Ok(request_id))
            return
        waiter = Waiter(link, request_id, len(pending))
        session.waiters.add(waiter)
        for node in pending:
            if node.waiters is None:
                node.waiters = []
            node.waiters.append(waiter)
        if progress:
            self.progress.watch(session, waiter, len(nodes))

    def fetch(self, session: SessionState, link: Any, request_id: int, oid: ID) -> None:
        self.check_alive(session)
        obj = self._object(session, oid)
        if not obj.keep:
            raise RequestError(f"object {oid} is not kept; only kept objects can be fetched")
        if obj.state is FINISHED:
            if self.restoring is not None and obj.data is None and not obj.holders:  # its governor may come back
                self.after_restore.append((link, request_id, lambda: self.fetch(session, link, request_id, oid)))
                return
            link.send(self._fetch_reply(obj, request_id))
            return
        waiter = Waiter(link, request_id, 1, fetch_object=obj)
        session.waiters.add(waiter)
        if obj.waiters is None:
            obj.waiters = []
        obj.waiters.append(waiter)

    def update(self, session: SessionState, ids: list[ID]) -> m.Updated:
        self.check_alive(session)
        tasks: list[Any] = []
        objects: list[Any] = []
        for nid in ids:
            node = self._node(session, nid)
            row = NodeUpdate(list(nid), node.state.value, node.info)
            (tasks if isinstance(node, TaskNode) else objects).append(row)
        return m.Updated(0, tasks, objects)

    def server_info(self) -> dict[str, Any]:
        waiting = self._ready_by_session()
        return {
            "governors": [g.summary() for g in self.governors.values()],
            "sessions": [{"session_id": s.id, "name": s.name, "tasks": len(s.tasks),
                          "unfinished_tasks": s.unfinished_tasks, "error": s.error, "state": s.status,
                          "keep_alive": s.keep_alive, "attached": s.client is not None,
                          "waiting_tasks": waiting.get(s.id, 0)}
                         for s in self.sessions.values()],
            "refused_connections": dict(sorted(self.refused.items())),
            "held_outputs": self.held.summary(),
        }

    def _ready_by_session(self) -> Counter[int]:
        """Ready tasks not yet placed on a governor (none can take them now), by session."""
        ready = {id(t): t for queue in self.ready.values() for t in queue if t.state is TaskState.ready}
        return Counter(t.session.id for t in ready.values())


def _is_done(node: TaskNode | ObjectNode) -> bool:
    if isinstance(node, TaskNode):
        return node.state is TaskState.finished
    return node.state is not DataObjectState.unfinished
