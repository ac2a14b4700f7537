"""The server's held small outputs stay within their byte budget, counted exactly, also when
an object's data is reported again (a recomputed object) and when fetched or dropped."""

from __future__ import annotations

from rain.core.server.held import ENTRY_COST, HeldOutputs
from rain.core.server.state import ObjectNode, SessionState


def kept(session: SessionState, oid: int) -> ObjectNode:
    return ObjectNode(session, oid, None, None, "blob", None, keep=True)


def test_reported_again_replaces_the_data_and_its_charge():
    held = HeldOutputs()
    session = SessionState(1, "s", None)
    a, b = kept(session, 1), kept(session, 2)
    held.offer(a, b"1234")
    held.offer(b, b"xy")
    held.offer(a, b"123456")
    assert held.size == 6 + 2 + 2 * ENTRY_COST
    assert held.take(a) == b"123456" and held.take(a) is None
    assert held.size == 2 + ENTRY_COST
    held.drop(b)
    assert held.size == 0 and held.summary() == {"objects": 0, "bytes": 0}


def test_nothing_is_held_past_the_limit_or_unkept():
    session = SessionState(1, "s", None)
    held = HeldOutputs(limit=10 + ENTRY_COST)
    unkept = ObjectNode(session, 3, None, None, "blob", None)
    held.offer(unkept, b"a")
    held.offer(kept(session, 1), b"0123456789")
    held.offer(kept(session, 2), b"b")
    assert held.summary() == {"objects": 1, "bytes": 10 + ENTRY_COST}
