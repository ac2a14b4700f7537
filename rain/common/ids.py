"""Identifiers of tasks and data objects: a (session_id, id) pair."""

from __future__ import annotations

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
            return tuple.__new__(cls, (session_id, id_))  # not the named tuple's Python-level `__new__`
        raise ValueError(f"invalid ID {value!r}")

    def __repr__(self) -> str:
        return f"ID({self.session_id}, {self.id})"
