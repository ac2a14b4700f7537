"""Garbage collection: an object no task needs any more and no client keeps is deleted from
its governors, after `delete_timeout` (a delete list per governor, sent periodically)."""

from __future__ import annotations

from rain.common.ids import ID
from rain.common.states import DataObjectState
from rain.core.server.sessions import Sessions
from rain.core.server.state import ObjectNode, SessionState

FINISHED = DataObjectState.finished


class GarbageCollection(Sessions):
    """Governors delete an object late (`delete_timeout`), in lists: deleting each one the
    moment it is released would cost a message per object."""

    def _maybe_release(self, obj: ObjectNode) -> None:
        if obj.state is not FINISHED or obj.keep or obj.pending_consumers > 0:
            return
        obj.state = DataObjectState.removed  # a constant keeps its data: lineage may need it again
        if not obj.holders:
            return
        full_id = obj.full_id
        timeout = self.delete_timeout
        deadline = self.clock() + timeout if timeout > 0 else 0.0
        for gid in obj.holders:
            gov = self.governors.get(gid)
            if gov is None:
                continue
            if timeout <= 0:
                gov.objects.discard(full_id)
                gov.link.delete(full_id)
            else:
                gov.to_delete[full_id] = deadline
        obj.holders.clear()

    def run_deletions(self) -> None:
        """Sends the delete lists whose time has come (called periodically).

        Entries are added with one fixed timeout, so the dict's insertion order is deadline
        order: a tick looks only at the entries that are due, however many are waiting.
        """
        now = self.clock()
        for gov in self.governors.values():
            due = []
            for oid, deadline in gov.to_delete.items():
                if deadline > now:
                    break
                due.append(oid)
            for oid in due:
                del gov.to_delete[oid]
                gov.objects.discard(oid)
                gov.link.delete(oid)

    def unkeep(self, session: SessionState, ids: list[ID]) -> None:
        self.check_alive(session)
        nodes = [self._object(session, oid) for oid in ids]
        self.journal_append(["unkeep", session.id, [list(i) for i in ids]])
        for obj in nodes:
            obj.keep = False
            self.held.drop(obj)  # no fetch can come for it any more
            self._maybe_release(obj)
