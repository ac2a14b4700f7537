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
        if not isinstance(session_id, int) or not isinstance(id_, int):
            raise ValueError(f"invalid ID {value!r}")
        return cls(session_id, id_)

    def __repr__(self) -> str:
        return f"ID({self.session_id}, {self.id})"
