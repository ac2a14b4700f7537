"""A list whose items may carry unique labels.

Task inputs and outputs are positional, but users (and Execute / remote tasks)
refer to them by name as well; `LabeledList` offers both views of one sequence.
Lists are small, so labels are kept in a parallel list and looked up linearly,
which keeps every mutation trivially consistent.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, MutableSequence
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class DuplicateLabelError(KeyError, ValueError):
    """A label is already used in the list.

    A `KeyError`, as in Rain 0.4, and a `ValueError`, as in earlier releases of this package."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class LabelView(list):
    """The labels of a `LabeledList`: a list (Rain 0.4's `labels` attribute) that may also be
    called (`labels()`, the method of earlier releases) to get a copy."""

    def __call__(self) -> list[Hashable | None]:
        return list(self)


def _check_label(label: Any) -> None:
    if label is None or type(label) is str:  # the usual labels, without the checks below
        return
    if isinstance(label, (int, slice)):
        raise TypeError(f"invalid label {label!r}: labels cannot be int or slice")
    if not isinstance(label, Hashable):
        raise TypeError(f"invalid label {label!r}: labels must be hashable")


class LabeledList(MutableSequence[T], Generic[T]):
    """Mutable sequence with optional unique labels (any hashable except None, int, slice).

    `l[x]` accepts an int, a slice (giving a LabeledList that keeps the labels) or a
    label. Assigning with `l[x] = v` clears the label; use `set` or `set_label` to
    label items. There is no `sort`. `label in l` tests labels; `labels` is the list of
    labels. A label used twice raises `DuplicateLabelError` (a KeyError and a ValueError).
    """

    __slots__ = ("_items", "_labels")

    def __init__(
        self,
        items: Iterable[T] | None = None,
        labels: Iterable[Hashable | None] | None = None,
        pairs: Iterable[tuple[Hashable | None, T]] | None = None,
    ) -> None:
        self._items: list[T] = []
        self._labels: list[Hashable | None] = []
        if pairs is not None:
            if items is not None or labels is not None:
                raise ValueError("give either pairs, or items (with optional labels), not both")
            for label, value in pairs:
                self.append(value, label)
            return
        if items is None:
            if labels is not None:
                raise ValueError("labels given without items")
            return
        if labels is None and isinstance(items, LabeledList):
            label_list: list[Hashable | None] = list(items._labels)
            item_list = list(items)
        else:
            item_list = list(items)
            label_list = [None] * len(item_list) if labels is None else list(labels)
        if len(label_list) != len(item_list):
            raise ValueError(
                f"got {len(item_list)} items but {len(label_list)} labels"
            )
        for value, label in zip(item_list, label_list, strict=False):
            self.append(value, label)

    # --- label helpers ---

    def _find_label(self, label: Hashable) -> int | None:
        for i, lab in enumerate(self._labels):
            if lab is not None and lab == label:
                return i
        return None

    def _label_index(self, label: Hashable) -> int:
        i = self._find_label(label)
        if i is None:
            raise KeyError(label)
        return i

    def _check_new_label(self, label: Hashable | None, ignore: int | None = None) -> None:
        _check_label(label)
        if label is None or not self._labels:
            return
        i = self._find_label(label)
        if i is not None and i != ignore:
            raise DuplicateLabelError(f"duplicate label {label!r}")

    def _norm_index(self, idx: int) -> int:
        n = len(self._items)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} out of range for LabeledList of length {n}")
        return idx % n

    def _index_of(self, key: int | Hashable) -> int:
        if isinstance(key, int):
            return self._norm_index(key)
        return self._label_index(key)

    # --- sequence protocol ---

    @overload
    def __getitem__(self, key: int) -> T: ...

    @overload
    def __getitem__(self, key: slice) -> LabeledList[T]: ...

    @overload
    def __getitem__(self, key: Hashable) -> T: ...

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return LabeledList(self._items[key], self._labels[key])
        return self._items[self._index_of(key)]

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, slice):
            values = list(value)
            self._items[key] = values  # raises first if an extended slice mismatches
            self._labels[key] = [None] * len(values)
            return
        i = self._index_of(key)
        self._items[i] = value
        self._labels[i] = None

    def __delitem__(self, key: Any) -> None:
        if isinstance(key, slice):
            del self._items[key]
            del self._labels[key]
            return
        i = self._index_of(key)
        del self._items[i]
        del self._labels[i]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def insert(self, idx: int, val: T, label: Hashable | None = None) -> None:
        """Insert `val` before `idx`, optionally labelled."""
        self._check_new_label(label)
        self._items.insert(idx, val)
        # list.insert clamps the index; mirror it exactly on the labels
        n = len(self._items) - 1
        pos = idx if idx >= 0 else max(n + idx, 0)
        self._labels.insert(min(pos, n), label)

    def append(self, val: T, label: Hashable | None = None) -> None:
        """Append `val` to the end, optionally labelled."""
        self._check_new_label(label)
        self._items.append(val)
        self._labels.append(label)

    def reverse(self) -> None:
        self._items.reverse()
        self._labels.reverse()

    # --- labels ---

    def set(self, idx: int | Hashable, val: T, label: Hashable | None = None) -> None:
        """Assign to the given index (or label), always setting its label to `label`."""
        i = self._index_of(idx)
        self._check_new_label(label, ignore=i)
        self._items[i] = val
        self._labels[i] = label

    def set_label(self, idx: int, label: Hashable | None) -> None:
        """Set the label of the item at `idx` (None removes it)."""
        i = self._norm_index(idx)
        self._check_new_label(label, ignore=i)
        self._labels[i] = label

    def get_label(self, idx: int) -> Hashable | None:
        """Return the label at `idx` (None if unlabelled)."""
        return self._labels[self._norm_index(idx)]

    @property
    def labels(self) -> LabelView:
        """All labels in order, None for unlabelled items (a fresh list)."""
        return LabelView(self._labels)

    def __contains__(self, label: object) -> bool:
        """Membership tests labels, not values (as in Rain 0.4): `"out" in task.outputs`."""
        return label is not None and self._find_label(label) is not None

    def items(self) -> Iterator[tuple[Hashable | None, T]]:
        """Iterator over (label, value) pairs; do not modify the list meanwhile."""
        return zip(self._labels, self._items, strict=False)

    def copy(self) -> LabeledList[T]:
        return LabeledList(self._items, self._labels)

    # --- misc ---

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LabeledList):
            return self._items == other._items and self._labels == other._labels
        if isinstance(other, list):
            return self._items == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [
            repr(v) if lab is None else f"{lab!r}: {v!r}"
            for lab, v in zip(self._labels, self._items, strict=False)
        ]
        return f"LabeledList([{', '.join(parts)}])"
