"""The client's registry of submitted tasks and objects: found by number, held weakly."""

from __future__ import annotations

import gc

import pytest

from rain.client import Session, blob
from rain.client.session import Submitted


def test_nodes_are_found_by_number_while_alive():
    with Session(None, 1).bind_only():
        objects = [blob(b"x") for _ in range(3)]
    submitted: Submitted = Submitted()
    submitted.add_all(objects)
    assert submitted.get(2) is objects[1]
    assert submitted[3] is objects[2]
    assert submitted.values() == objects
    submitted.discard(2)
    assert submitted.get(2) is None
    with pytest.raises(KeyError):
        submitted[2]
    assert submitted.get(99) is None


def test_dropped_nodes_are_not_pinned_and_their_entries_are_swept():
    submitted: Submitted = Submitted()
    session = Session(None, 1)
    with session.bind_only():
        kept = [blob(b"k")]
        submitted.add_all(kept)
        for _ in range(10):  # 10 submits of 500 objects the user drops
            submitted.add_all([blob(b"x") for _ in range(500)])
            session._objects = []  # as a submit leaves it
            gc.collect()
    assert submitted.values() == kept
    assert len(submitted._refs) < 1024  # swept, not 5,001 dead entries
    assert submitted.get(1) is kept[0]
