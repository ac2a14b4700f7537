"""Pickling call arguments with data objects replaced by references to task inputs.

The client pickles each argument with cloudpickle; every `DataObject` (or `Task`, meaning its
single output) met anywhere during pickling -- in containers, attributes of own classes or
closures of lambdas -- is written as a persistent id naming an input of the task. The executor
resolves those ids to `DataInstance`s (or loaded values). Using pickle's persistent-id hook means
we never have to walk user data structures ourselves.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from typing import Any

import cloudpickle

PERSISTENT_TAG = "rain-input"


class _ArgumentPickler(cloudpickle.CloudPickler):
    def __init__(self, file: io.BytesIO, register: Callable[[Any], int | None]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._register = register

    def persistent_id(self, obj: Any) -> Any:
        index = self._register(obj)
        return None if index is None else (PERSISTENT_TAG, index)


def dumps_with_inputs(value: Any, register: Callable[[Any], int | None]) -> bytes:
    """Pickles `value`; `register(obj)` returns an input index for objects to replace, else None."""
    buffer = io.BytesIO()
    _ArgumentPickler(buffer, register).dump(value)
    return buffer.getvalue()


class _ArgumentUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, resolve: Callable[[int], Any]) -> None:
        super().__init__(file)
        self._resolve = resolve

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) == 2 and pid[0] == PERSISTENT_TAG:
            return self._resolve(pid[1])
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")


def loads_with_inputs(data: bytes, resolve: Callable[[int], Any]) -> Any:
    """Unpickles data made by `dumps_with_inputs`; `resolve(index)` gives what replaces an input."""
    return _ArgumentUnpickler(io.BytesIO(data), resolve).load()


def may_refer_to_inputs(data: bytes) -> bool:
    """Whether a pickle may hold persistent ids: one that has neither opcode for them (PERSID
    "P", BINPERSID "Q") anywhere in its bytes loads with plain `pickle.loads`, for an eighth
    of the CPU of an unpickler object (a small argument, the usual one)."""
    return b"Q" in data or b"P" in data
