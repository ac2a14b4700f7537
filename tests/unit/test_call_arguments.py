"""The executor's arguments for a call: what `inspect` binds, with or without its help."""

from __future__ import annotations

import inspect
import pickle

import pytest

from rain.common.attributes import TaskSpec
from rain.common.data_instance import DataInstance
from rain.common.ids import ID
from rain.plugins.python.context import Context
from rain.plugins.python.invoke import build_arguments, call_signature, leading_positional
from rain.plugins.python.pickling import dumps_with_inputs, may_refer_to_inputs


def fn(ctx, a, b=2, /, c=3, *rest, d, e=5, **more):
    pass


def plain(ctx, a, b, c=3):
    pass


@pytest.mark.parametrize("function,given", [
    (plain, {"a": 1, "b": 2}),
    (plain, {"a": 1, "b": 2, "c": 4}),
    (plain, {"a": 1, "c": 4, "b": 2}),
    (plain, {"b": 2, "a": 1}),
    (plain, {"a": 1, "c": 4}),
    (fn, {"a": 1, "d": 4}),
    (fn, {"a": 1, "b": 2, "c": 3, "rest": (7, 8), "d": 4, "more": {"x": 9}}),
    (fn, {"a": 1, "b": 2, "c": 3}),
    (fn, {"a": 1, "e": 6, "more": {"y": 0}}),
])
def test_arguments_are_those_inspect_binds(function, given):
    signature = call_signature(function)
    bound = inspect.BoundArguments(signature, dict(given))
    config = {"args": {name: pickle.dumps(value) for name, value in given.items()}}
    ctx = Context(TaskSpec(ID(1, 1), "py/call"), "", None)
    args, kwargs = build_arguments(ctx, config, [], signature, leading_positional(signature))
    assert (args, kwargs) == (bound.args, bound.kwargs)


def test_leading_positional_stops_at_star_args():
    assert leading_positional(call_signature(fn)) == ("a", "b", "c")
    assert leading_positional(call_signature(plain)) == ("a", "b", "c")
    assert leading_positional(call_signature(lambda ctx, *, k: None)) == ()


class _Ref:
    """Stands for a data object: pickled as a reference to an input."""


@pytest.mark.parametrize("build", [
    lambda x: 5, lambda x: "text", lambda x: b"QP", lambda x: "Quite Plain", lambda x: [1, "Q"],
    lambda x: {"P": b"Q"}, lambda x: x, lambda x: [x, 1], lambda x: {"k": (x, "Q")},
])
def test_arguments_with_and_without_references_to_inputs(build):
    """An argument whose pickle holds no reference to an input is loaded by plain pickle; any
    with one still gets its input, whatever else its bytes hold."""
    refs = []
    data = dumps_with_inputs(build(_Ref()), lambda obj: refs.append(obj) or 0 if isinstance(obj, _Ref) else None)
    assert may_refer_to_inputs(data) or not refs
    ctx = Context(TaskSpec(ID(1, 1), "py/call"), "", None)
    instance = DataInstance("blob", data=b"input")
    signature = call_signature(plain)
    args, _ = build_arguments(ctx, {"args": {"a": data}}, [instance], signature, leading_positional(signature))
    assert args == (build(instance),)
