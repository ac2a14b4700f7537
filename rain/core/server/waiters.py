"""Answering the client requests that wait: a `wait` for tasks or objects, a `fetch` of an
object not finished yet, and every waiting request of a session that ends.
"""

from __future__ import annotations

from rain.core.protocol import messages as m
from rain.core.server.base import RequestError, ServerBase
from rain.core.server.state import ObjectNode, SessionState, TaskNode, Waiter


class Waiters(ServerBase):
    """A waiter counts the nodes it still waits for; the last one finished answers it."""

    def _notify(self, node: TaskNode | ObjectNode) -> None:
        waiters, node.waiters = node.waiters, None
        for waiter in waiters or ():
            waiter.remaining -= 1
            if waiter.remaining == 0:
                self._answer(node.session, waiter, None)

    def _answer(self, session: SessionState, waiter: Waiter, error: RequestError | None) -> None:
        session.waiters.discard(waiter)
        if error is not None:
            waiter.link.send(m.Error(waiter.request_id, str(error), error.category.value, error.task_id))
        elif waiter.fetch_object is not None:
            waiter.link.send(self._fetch_reply(waiter.fetch_object, waiter.request_id))
        else:
            waiter.link.send(m.Ok(waiter.request_id))

    def _answer_session_waiters(self, session: SessionState, error: RequestError) -> None:
        for waiter in list(session.waiters):
            waiter.remaining = -1
            self._answer(session, waiter, error)
        session.all_waiters.clear()

    def _fetch_reply(self, obj: ObjectNode, request_id: int) -> m.Message:
        data = obj.data if obj.data is not None else self.held.take(obj)
        if data is not None:
            return m.FetchReady(request_id, obj.info, obj.data_type, data, None)
        for gid in obj.holders:
            gov = self.governors.get(gid)
            if gov is not None:
                return m.FetchReady(request_id, obj.info, obj.data_type, None, gov.data_address)
        return m.Error(request_id, f"object {obj.full_id} is not available on any governor")
