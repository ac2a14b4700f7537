"""Attaching to a keep-alive session: its submitted objects, rebuilt from the server's rows.

A process that attaches did not build the graph, so it has no `DataObject`s; the server sends
one row per object (id, label, data type, content type, keep, state) and this module makes
the objects the session's `get_object` hands out, as if they had been submitted here.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from rain.client.data import DataObject
from rain.common.errors import RainException
from rain.common.ids import ID

if TYPE_CHECKING:
    from rain.client.session import Session


class AttachedObjects:
    """The objects of an attached session, by id and by label (strong references: nobody
    else holds them)."""

    def __init__(self, session: Session, reply: dict[str, Any]) -> None:
        self.by_id: dict[int, DataObject] = {}
        self.by_label: dict[str, list[DataObject]] = {}
        for row in reply["objects"]:
            obj = DataObject._from_server_row(session, row)
            self.by_id[obj._num] = obj
            if obj._label is not None:
                self.by_label.setdefault(obj._label, []).append(obj)
        session._submitted_objects.add_all(list(self.by_id.values()))
        session._ids = itertools.count(reply["last_id"] + 1)

    def get(self, session_id: int, key: int | str | ID) -> DataObject:
        if isinstance(key, ID) or (isinstance(key, tuple) and len(key) == 2):
            if key[0] != session_id:
                raise RainException(f"object {key} belongs to session {key[0]}, not {session_id}")
            key = key[1]
        if isinstance(key, bool) or not isinstance(key, int | str):
            raise RainException(f"an object is looked up by id (int or ID) or by label (str), not {key!r}")
        if isinstance(key, int):
            obj = self.by_id.get(key)
            if obj is None:
                raise RainException(f"session {session_id} has no object {key}")
            return obj
        found = self.by_label.get(key, [])
        if len(found) != 1:
            what = "no object" if not found else f"{len(found)} objects ({', '.join(str(o._num) for o in found)})"
            raise RainException(f"session {session_id} has {what} labelled {key!r}; look it up by id")
        return found[0]
