"""Tests of LabeledList."""

from __future__ import annotations

import pytest

from rain.common.labeled_list import LabeledList


def test_construct_items_labels_pairs() -> None:
    a = LabeledList([1, 2, 3], labels=["a", None, "c"])
    b = LabeledList(pairs=[("a", 1), (None, 2), ("c", 3)])
    assert a == b
    assert a == [1, 2, 3]
    assert a.labels() == ["a", None, "c"]
    assert LabeledList() == []
    assert len(LabeledList()) == 0


def test_construct_copies_labels_of_labeled_list() -> None:
    a = LabeledList([1, 2], labels=["x", "y"])
    b = LabeledList(a)
    assert b.labels() == ["x", "y"]
    b.set_label(0, "z")
    assert a.get_label(0) == "x"


def test_construct_errors() -> None:
    with pytest.raises(ValueError):
        LabeledList([1, 2], labels=["a"])
    with pytest.raises(ValueError, match="'a'"):
        LabeledList([1, 2], labels=["a", "a"])
    with pytest.raises(ValueError):
        LabeledList([1], pairs=[("a", 1)])


def test_index_by_int_label_slice() -> None:
    ll = LabeledList([10, 20, 30, 40], labels=["a", "b", None, "d"])
    assert ll[0] == 10
    assert ll[-1] == 40
    assert ll["b"] == 20
    s = ll[1:3]
    assert isinstance(s, LabeledList)
    assert s == [20, 30]
    assert s.labels() == ["b", None]
    assert ll[::-2].labels() == ["d", "b"]
    with pytest.raises(KeyError):
        ll["nope"]
    with pytest.raises(IndexError):
        ll[4]


def test_tuple_label() -> None:
    ll = LabeledList()
    ll.append("v", label=("t", 1))
    assert ll[("t", 1)] == "v"


def test_invalid_labels() -> None:
    ll = LabeledList()
    with pytest.raises(TypeError):
        ll.append(1, label=3)
    with pytest.raises(TypeError):
        ll.append(1, label=slice(1))
    with pytest.raises(TypeError):
        ll.append(1, label=["unhashable"])
    assert len(ll) == 0


def test_setitem_clears_label() -> None:
    ll = LabeledList([1, 2], labels=["a", "b"])
    ll[0] = 5
    assert ll == [5, 2]
    assert ll.get_label(0) is None
    ll["b"] = 7
    assert ll == [5, 7]
    assert ll.labels() == [None, None]


def test_slice_assignment() -> None:
    ll = LabeledList([1, 2, 3], labels=["a", "b", "c"])
    ll[0:2] = [7, 8, 9]
    assert ll == [7, 8, 9, 3]
    assert ll.labels() == [None, None, None, "c"]
    with pytest.raises(ValueError):
        ll[::2] = [1]
    assert ll == [7, 8, 9, 3]


def test_set_and_set_label() -> None:
    ll = LabeledList([1, 2])
    ll.set(0, 42, label="answer")
    assert ll["answer"] == 42
    ll.set(0, 43, label="answer")  # same label on the same index is fine
    assert ll["answer"] == 43
    ll.set_label(1, "other")
    assert ll.get_label(1) == "other"
    with pytest.raises(ValueError, match="answer"):
        ll.set_label(1, "answer")
    with pytest.raises(ValueError, match="answer"):
        ll.set(1, 0, label="answer")
    assert ll == [43, 2]
    ll.set_label(0, None)
    assert ll.labels() == [None, "other"]


def test_append_insert() -> None:
    ll = LabeledList()
    ll.append(1, "a")
    ll.append(3)
    ll.insert(1, 2, label="b")
    ll.insert(0, 0)
    ll.insert(100, 4, label="end")
    ll.insert(-100, -1, label="start")
    assert ll == [-1, 0, 1, 2, 3, 4]
    assert ll.labels() == ["start", None, "a", "b", None, "end"]
    with pytest.raises(ValueError, match="'a'"):
        ll.append(5, "a")
    with pytest.raises(ValueError):
        ll.insert(0, 5, "b")
    assert len(ll) == 6


def test_delitem() -> None:
    ll = LabeledList([1, 2, 3, 4], labels=["a", "b", "c", "d"])
    del ll["b"]
    assert ll == [1, 3, 4]
    del ll[0]
    assert ll.labels() == ["c", "d"]
    del ll[0:1]
    assert ll.labels() == ["d"]
    with pytest.raises(KeyError):
        del ll["a"]
    # a removed label can be reused
    ll.append(9, "a")
    assert ll["a"] == 9


def test_items_and_mixins() -> None:
    ll = LabeledList([1, 2, 3], labels=["a", None, "c"])
    assert list(ll.items()) == [("a", 1), (None, 2), ("c", 3)]
    assert ll.pop() == 3
    assert ll.labels() == ["a", None]
    ll.extend([5, 6])
    assert ll == [1, 2, 5, 6]
    ll.remove(2)
    assert ll.labels() == ["a", None, None]
    assert 5 in list(ll) and 5 not in ll  # `in` tests labels
    assert ll.index(6) == 2
    ll.reverse()
    assert ll == [6, 5, 1]
    assert ll.labels() == [None, None, "a"]


def test_no_sort() -> None:
    ll = LabeledList([2, 1])
    with pytest.raises(AttributeError):
        ll.sort()  # type: ignore[attr-defined]


def test_eq_and_repr() -> None:
    a = LabeledList([1, 2], labels=["x", None])
    assert a == LabeledList([1, 2], labels=["x", None])
    assert a != LabeledList([1, 2])
    assert a != [2, 1]
    assert repr(a) == "LabeledList(['x': 1, 2])"
    with pytest.raises(TypeError):
        hash(a)
