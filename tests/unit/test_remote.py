"""Client side of remote Python tasks, offline: binding, configuration, argument pickling."""

from __future__ import annotations

import gc
import importlib
import pickle
import time
import weakref

import cbor2
import pytest

from rain.client import Input, Output, OutputDir, RainException, RainWarning, Remote, Session, blob, remote, tasks
from rain.common import DataInstance
from rain.common.attributes import TaskSpec
from rain.common.ids import ID
from rain.common.states import DataObjectState
from rain.plugins.python.context import Context
from rain.plugins.python.invoke import CallError, split_result, to_instance
from rain.plugins.python.pickling import loads_with_inputs


@pytest.fixture
def session():
    s = Session(None, 7)
    with s.bind_only():
        yield s


def unpickle_args(task, resolve=lambda i: ("input", i)):
    return {k: loads_with_inputs(v, resolve) for k, v in task.spec.config["args"].items()}


def test_binding_and_defaults(session):
    @remote
    def f(ctx, a, b=2, *rest, c, d=4, **extra):
        pass

    t = f(1, c=3)
    assert t.task_type == "py/call"
    assert t.name == "f"
    assert unpickle_args(t) == {"a": 1, "c": 3}  # defaults are applied in the executor
    t = f(1, 2, 5, 6, c=3, z=9)
    assert unpickle_args(t) == {"a": 1, "b": 2, "rest": (5, 6), "c": 3, "extra": {"z": 9}}
    with pytest.raises(TypeError, match="'a'"):
        f(c=3)
    with pytest.raises(TypeError, match="'c'"):
        f(1)
    with pytest.raises(TypeError):
        f(1, c=3, a=2)


def test_positional_calls_bind_like_the_signature(session):
    """Plain positional calls skip `Signature.bind` and plain values skip cloudpickle: the same
    arguments, the same errors."""
    @remote
    def f(ctx, a, b=2):
        pass

    assert unpickle_args(f(1, "x")) == {"a": 1, "b": "x"}
    assert unpickle_args(f(None)) == {"a": None}
    assert unpickle_args(f(b"y", b=1.5)) == {"a": b"y", "b": 1.5}
    assert unpickle_args(f(True, [3])) == {"a": True, "b": [3]}
    with pytest.raises(TypeError, match=r"f\(\): too many positional arguments"):
        f(1, 2, 3)
    with pytest.raises(RainWarning, match=r"Pickled object a length 3000\d\d > PICKLE_ARG_SIZE_LIMIT"):
        f(b"x" * 300_000)


def test_plain_calls_build_the_task_the_general_path_builds(session):
    """A call with plain positional values takes a shorter path (`Remote._plain_call`); it
    must build the same task, objects, ids and rows as a call binding by keyword."""
    @remote(outputs=[Output("x", size_hint=2.5, content_type="json"), OutputDir("d")], cpus=2, retries=1,
            name="named")
    def f(ctx, a, b):
        pass

    plain, general = f(1, "s"), f(a=1, b="s")
    assert session.task_count == 2 and session.dataobj_count == 5  # the function, 2 outputs each
    assert type(plain) is type(general) and plain.remote is f
    assert plain.spec.config == general.spec.config
    assert [o.spec.label for o in plain.outputs] == [o.spec.label for o in general.outputs] == ["x", "d"]
    assert [o._to_row()[1:] for o in plain.outputs] == [o._to_row()[1:] for o in general.outputs]
    assert plain.outputs["x"]._size_hint == 3
    assert [o._producer for o in plain.outputs] == [plain, plain]
    assert (plain.name, plain.spec.resources, plain.spec.inputs[0].label) == ("named", {"cpus": 2, "retries": 1}, "fn")
    plain_row, general_row = plain._to_row(), general._to_row()
    assert plain_row[0] + 3 == general_row[0]  # ids in the same order: outputs first, then the task
    assert plain_row[1:3] + plain_row[5:] == general_row[1:3] + general_row[5:]
    assert "test_remote.py" in plain.stack
    assert not hasattr(plain, "__dict__") or not plain.__dict__


def test_plain_calls_leave_three_objects_per_task_to_the_cyclic_gc(session):
    """Building a big graph is bound by the cyclic GC: a plain call's task adds only the task,
    its output and its outputs list to what the GC tracks (the inputs list is shared by the
    function's tasks, and the config is made at submit)."""
    @remote
    def f(ctx, a):
        pass

    f(0)
    gc.collect()
    before = len(gc.get_objects())
    built = [f(i) for i in range(100)]
    gc.collect()
    assert len(gc.get_objects()) - before <= 3 * len(built) + 1  # + the list `built`
    assert built[1]._inputs is built[2]._inputs and built[1].inputs["fn"] is built[2].inputs["fn"]
    general = f(a=7)
    assert built[7]._to_row()[2] == general._to_row()[2] == built[7].spec.config
    assert built[7].spec.config["args"] != built[8].spec.config["args"]


def test_plain_calls_resend_an_unkept_function_object(session):
    @remote
    def f(ctx, a):
        pass

    fn = f(1).inputs["fn"]
    fn._state = DataObjectState.finished  # as a submit leaves it
    fn._keep = False  # as unkeep() leaves it
    again = f(2).inputs["fn"]
    assert again is not fn and again._data == fn._data and again._state is None


def test_plain_calls_on_a_closed_session_raise(session):
    @remote
    def f(ctx, a):
        pass

    f(1)
    session.close()
    with pytest.raises(RainException, match="closed"):
        f(2)


def test_function_needs_context_parameter():
    with pytest.raises(TypeError, match="context"):
        Remote(lambda: None)
    with pytest.raises(TypeError, match="no parameter 'zz'"):
        Remote(lambda ctx, a: None, inputs={"zz": Input(load=True)})


def test_function_object_shared_per_session(session):
    @remote
    def f(ctx, a):
        pass

    t1, t2 = f(1), f(2)
    assert t1.inputs["fn"] is t2.inputs["fn"]
    assert t1.inputs["fn"].is_kept()
    assert t1.inputs["fn"].content_type == "cloudpickle"
    assert pickle.loads(t1.inputs["fn"]._data)(None, 5) is None
    with Session(None, 8).bind_only():
        t3 = f(3)
    assert t3.inputs["fn"] is not t1.inputs["fn"]
    assert session.task_count == 2


@pytest.mark.parametrize("call", ["plain", "general"])
def test_a_function_does_not_keep_the_sessions_it_was_called_in(call):
    @remote
    def f(ctx, a):
        pass

    other = Session(None, 9)
    with other.bind_only():
        f(1) if call == "plain" else f(a=1)
    gone = weakref.ref(other)
    del other
    gc.collect()
    assert gone() is None


def test_data_objects_inside_arguments_become_inputs(session):
    a, b, c = blob(b"a"), blob(b"b"), blob(b"c")
    sleeper = tasks.Sleep(c, 0)

    class Box:
        def __init__(self, item):
            self.item = item

    @remote
    def f(ctx, x, y, z):
        pass

    t = f([a, {"k": (b, a)}], Box(b), lambda: sleeper)
    assert list(t.inputs)[1:] == [a, b, sleeper.output]
    args = unpickle_args(t)
    assert args["x"] == [("input", 1), {"k": (("input", 2), ("input", 1))}]
    assert args["y"].item == ("input", 2)
    assert args["z"]() == ("input", 3)


def test_objects_from_another_session_are_refused(session):
    with Session(None, 99).bind_only():
        other = blob(b"x")

    @remote
    def f(ctx, x):
        pass

    with pytest.raises(RainException, match="another session"):
        f([other])


def test_big_argument_raises_rain_warning(session):
    @remote
    def f(ctx, small, big):
        pass

    with pytest.raises(RainWarning, match=r"Pickled object big length 3000\d\d > PICKLE_ARG_SIZE_LIMIT=262144\. "
                                          r"Consider using a blob\(\) for the data\."):
        f(1, b"x" * 300_000)
    huge = b"y" * 300_000

    @remote
    def g(ctx):
        return huge

    with pytest.raises(RainWarning, match=r"Pickled object g length \d+ > PICKLE_ARG_SIZE_LIMIT"):
        g()


def test_slow_pickling_raises_rain_warning(session, monkeypatch):
    remote_module = importlib.import_module("rain.client.remote")  # the package exports a function of that name
    monkeypatch.setattr(remote_module, "PICKLE_ARG_TIME_LIMIT", 0.05)

    class Slow:
        def __reduce__(self):
            time.sleep(0.1)
            return (Slow, ())

    @remote
    def f(ctx, value):
        pass

    with pytest.raises(RainWarning, match=r"Pickling object value took 0\.\d s > PICKLE_ARG_TIME_LIMIT=0\.05"):
        f(Slow())


def test_arguments_above_64k_travel_as_input(session):
    @remote
    def f(ctx, small, big):
        pass

    t = f(1, b"x" * 200_000)
    assert t.spec.config["args"] is None
    holder = t.inputs["args"]
    assert set(cbor2.loads(holder._data)) == {"small", "big"}


def test_outputs_configuration(session):
    @remote(outputs=["a", Output("b", encode="json")], auto_encode="pickle")
    def f(ctx):
        pass

    t = f()
    assert [o.label for o in t.outputs] == ["a", "b"]
    assert [o.content_type for o in t.outputs] == ["pickle", "json"]
    assert t.spec.config["encode"] == ["pickle", "json"]
    t = f(outputs=3, name="renamed")  # another length replaces the declaration
    assert [o.label for o in t.outputs] == ["out0", "out1", "out2"]
    assert t.name == "renamed"
    assert len(f(outputs=0).outputs) == 0
    with pytest.raises(RainException, match="unique"):
        f(outputs=["x", "x"])


def test_annotations_configure_inputs_and_outputs(session):
    def f(ctx, a: Input(load=True, content_type="json"), b: int, *rest: Input(load=True)) -> ("x", OutputDir("y")):  # noqa: UP037, F821
        pass

    r = Remote(f)
    t = r(blob(b"1"), 2)
    assert [o.label for o in t.outputs] == ["x", "y"]
    assert t.outputs["y"].data_type.value == "dir"
    assert t.spec.config["inputs"] == {"a": [True, "json"], "rest": [True, None]}

    def g(ctx, a, b) -> 2:
        pass

    r = Remote(g, inputs={"b": Input(content_type="text")}, auto_load=True)
    t = r(1, 2)
    assert len(t.outputs) == 2
    assert t.spec.config["inputs"] == {"a": [True, None], "b": [True, "text"]}

    def h(ctx) -> bytes:
        pass

    assert len(Remote(h)().outputs) == 1


def test_split_result_messages():
    assert split_result(b"x", ["a"], [None]) == [b"x"]
    assert split_result((b"x",), ["a"], [None]) == [b"x"]
    assert split_result({"b": 2, "a": 1}, ["a", "b"], [None, None]) == [1, 2]
    assert split_result(None, [], []) == []
    with pytest.raises(CallError, match="returned 1 values, expected 2"):
        split_result([b"x"], ["a", "b"], [None, None])
    with pytest.raises(CallError, match="unknown output label"):
        split_result({"c": 1}, ["a"], [None])
    with pytest.raises(CallError, match="no value for output"):
        split_result({"a": 1}, ["a", "b"], [None, None])
    with pytest.raises(CallError, match="expected None"):
        split_result(b"x", [], [])


def test_to_instance_conversions(tmp_path):
    ctx = Context(TaskSpec(ID(1, 1), "py/call"), str(tmp_path), None)
    assert to_instance(ctx, "é", "a", None, "blob", None).get_bytes() == "é".encode()
    latin = to_instance(ctx, "é", "a", "text-latin2", "blob", None)
    assert latin.get_bytes() == "é".encode("latin2") and latin.content_type == "text-latin2"
    enc = to_instance(ctx, {"x": 1}, "a", "json", "blob", "json")
    assert enc.load() == {"x": 1}
    inst = DataInstance("blob", data=b"q")
    assert to_instance(ctx, inst, "a", None, "blob", None) is inst
    with pytest.raises(CallError, match="output 'a'.*returned a int, expected bytes, str or a DataInstance"):
        to_instance(ctx, 5, "a", None, "blob", None)
