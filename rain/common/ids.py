"""Identifiers of tasks and data objects: a (session_id, id) pair."""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple


class ID(NamedTuple):
    """Identifies a task or a data object: its session, and a number unique in the session."""

    session_id: int
    id: int

    @classmethod
    def from_wire(cls, value: Any) -> ID:
        """CBOR turns tuples into lists; rebuild the named tuple explicitly."""
        session_id, id_ = value
        if (type(session_id) is int and type(id_) is int) or (isinstance(session_id, int) and isinstance(id_, int)):
            return make_id((session_id, id_))
        raise ValueError(f"invalid ID {value!r}")

    def __repr__(self) -> str:
        return f"ID({self.session_id}, {self.id})"


# `make_id((session_id, id))` is `ID(session_id, id)` for ints the caller knows are ints, without
# the named tuple's Python-level `__new__` (at half its cost: governors and the server make
# several IDs per task).
make_id = partial(tuple.__new__, ID)
