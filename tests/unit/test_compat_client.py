"""Rain 0.4 client behaviours that need no server: sessions, errors, labels, validation, API surface."""

from __future__ import annotations

import importlib

import pytest

import rain.common
from rain.client import (
    DataObject,
    Input,
    Output,
    OutputDir,
    RainException,
    Session,
    SessionException,
    Task,
    TaskException,
    blob,
    directory,
    tasks,
)
from rain.client.session import get_active_session
from rain.common import LabeledList


@pytest.fixture
def session():
    s = Session(None, 1)
    with s.bind_only():
        yield s


def test_session_active_until_closed_and_errors():
    """8: `active` from creation until close; a closed session cannot be entered."""
    s = Session(None, 7)
    assert s.active
    s.close()
    assert not s.active
    with pytest.raises(RainException, match="closed"), s:
        pass
    assert issubclass(TaskException, SessionException) and issubclass(SessionException, RainException)
    for name in ("RainException", "RainWarning", "SessionException", "TaskException"):
        assert getattr(rain.common, name) is getattr(importlib.import_module("rain.client"), name)


def test_labeled_list_labels():
    """9: `in` tests labels, `labels` is a list, a duplicate label raises KeyError."""
    ll = LabeledList(pairs=[("a", 1), (None, 2)])
    assert "a" in ll and 1 not in ll and None not in ll
    assert ll.labels == ["a", None] and isinstance(ll.labels, list) and ll.labels() == ["a", None]
    with pytest.raises(KeyError, match="'a'"):
        ll.append(3, label="a")


def test_bad_values_are_refused_at_the_call(session):
    """11: what the server would refuse never gets to a submit."""
    with pytest.raises(RainException, match="size_hint"):
        Output(size_hint=-1)
    with pytest.raises(RainException, match="task config must be CBOR-encodable"):
        Task([], 1, task_type="x/y", config={"f": object()})
    with pytest.raises(RainException, match="user_spec must be a dict"):
        Task([], 1, task_type="x/y", user_spec=[1])
    with pytest.raises(RainException, match="label must be a str"):
        DataObject(5)
    with pytest.raises(RainException, match="input label must be a str"):
        Task([(1, blob(b"x"))], 1, task_type="x/y")
    lonely = DataObject("lonely")
    with pytest.raises(RainException, match="neither data nor a task producing it"):
        session.submit()
    Task([], [lonely], task_type="x/y")
    assert Output(size_hint=0.1).create_object()._size_hint == 1


def test_direct_task_outputs(session):
    """12: existing objects as outputs (checked), None for no outputs, unlabelled int outputs."""
    assert Task([], None, task_type="x/y").outputs.labels == []
    assert Task([], 2, task_type="x/y").outputs.labels == [None, None]
    assert Task([], task_type="x/y").outputs.labels == [None]  # left out: one output
    out = DataObject("out")
    t = Task([("a", blob(b"1"))], [out, "named", Output()], task_type="x/y")
    assert t.outputs[0] is out and t.outputs.labels == ["out", "named", None] and t.inputs.labels == ["a"]
    with pytest.raises(RainException, match="already an output"):
        Task([], [out], task_type="x/y")
    with pytest.raises(RainException, match="is a constant"):
        Task([], [blob(b"c")], task_type="x/y")
    loop = DataObject("loop")
    middle = Task([loop], 1, task_type="x/y")
    with pytest.raises(RainException, match="cycle"):
        Task([middle], [loop], task_type="x/y")


def test_reference_surface(session, tmp_path):
    """18: keep_all, set_as_default, expect_dir/expect_blob, unkeep of an unkept object, modules."""
    a, b = blob(b"a"), blob(b"b")
    session.keep_all()
    assert a.is_kept() and b.is_kept()
    a.unkeep()
    with pytest.raises(RainException, match="not kept"):
        a.unkeep()
    (tmp_path / "d").mkdir()
    directory(str(tmp_path / "d")).expect_dir()
    with pytest.raises(TypeError):
        a.expect_dir()
    OutputDir().expect_dir()
    Output().expect_blob()
    with pytest.raises(TypeError):
        Output().expect_dir()
    other = Session(None, 2)
    other.set_as_default()
    assert get_active_session() is session  # a bound session comes first
    with session.bind_only():
        pass
    from rain.client.input import Input as ModuleInput
    from rain.client.output import Output as ModuleOutput

    assert ModuleInput is Input and ModuleOutput is Output
    import inspect

    assert list(inspect.signature(Session.fetch).parameters)[1] == "dataobject"


def test_default_session_after_unbinding():
    other = Session(None, 3)
    other.set_as_default()
    assert get_active_session() is other
    other.close()
    with pytest.raises(RainException, match="no active session"):
        get_active_session()


def test_sleep_output_follows_input(session, tmp_path):
    """10 (client side): the output spec copies data type and content type."""
    (tmp_path / "d").mkdir()
    assert tasks.Sleep(directory(str(tmp_path / "d")), 1).output.data_type.value == "dir"
    assert tasks.Sleep(blob(b"{}", content_type="json"), 1).output.spec.content_type == "json"
