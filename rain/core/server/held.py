"""Small kept outputs whose data the server holds, to answer their fetch itself.

A governor reports the data of a kept blob output of at most `SMALL_OUTPUT` bytes with the
task's result (the server asks for it in the assignment, `AssignedTask.report_data`). The
server holds it until the first fetch answers with it, the object is unkept or released, or
its session is closed or fails; then a fetch goes to the governor's data port, which keeps
the object as long as it is kept. Holding only until the first fetch: most results are fetched
once, and data the client already has should not take the room of results still to come.

Memory stays bounded: all the data held, plus `ENTRY_COST` per object for the bookkeeping,
stays under `limit`; past it, new results are not held (nor asked for) and their fetches go to
the governor, as without this.
"""

from __future__ import annotations

from typing import Any

from rain.core.server.state import ObjectNode

HELD_LIMIT = 64 * 1024 * 1024
ENTRY_COST = 128  # bytes of bookkeeping charged per object, so that many tiny ones are bounded too


class HeldOutputs:
    def __init__(self, limit: int = HELD_LIMIT) -> None:
        self.limit = limit
        self.size = 0  # bytes charged: data + ENTRY_COST per object
        self._by_session: dict[int, dict[int, bytes]] = {}

    def has_room(self) -> bool:
        return self.size < self.limit

    def offer(self, obj: ObjectNode, data: bytes) -> None:
        """Holds a finished output's data if it is still kept and there is room."""
        cost = len(data) + ENTRY_COST
        if not obj.keep or self.size + cost > self.limit:
            return
        held = self._by_session.get(obj.session.id)
        if held is None:
            held = self._by_session[obj.session.id] = {}
        old = held.get(obj.id)
        if old is not None:  # reported again (a recomputed object): the new data replaces it
            self.size -= len(old) + ENTRY_COST
        held[obj.id] = data
        self.size += cost

    def take(self, obj: ObjectNode) -> bytes | None:
        """The object's data, no longer held; None when it is not held."""
        held = self._by_session.get(obj.session.id)
        if not held:
            return None
        data = held.pop(obj.id, None)
        if data is not None:
            self.size -= len(data) + ENTRY_COST
            if not held:
                del self._by_session[obj.session.id]
        return data

    def drop(self, obj: ObjectNode) -> None:
        self.take(obj)

    def drop_session(self, session_id: int) -> None:
        held = self._by_session.pop(session_id, None)
        if held:
            self.size -= sum(len(data) for data in held.values()) + ENTRY_COST * len(held)

    def summary(self) -> dict[str, Any]:
        return {"objects": sum(len(held) for held in self._by_session.values()), "bytes": self.size}
