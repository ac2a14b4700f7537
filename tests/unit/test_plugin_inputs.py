"""Declared task-type inputs (`TaskType.inputs`) and how data types print: pure functions and
the wrapper a governor runs, with plain instances (no processes)."""

from __future__ import annotations

import pytest
import trio

from rain.common import DataInstance, DataType, LabeledList
from rain.common.attributes import TaskSpec, TaskSpecInput
from rain.common.ids import ID
from rain.plugins import TaskError, TaskType, task_type
from rain.plugins.api import input_mismatch


def test_data_type_prints_as_its_value():
    assert str(DataType.BLOB) == "blob" and str(DataType.DIRECTORY) == "dir"
    assert f"{DataType.DIRECTORY}" == "dir" and f"{DataType.BLOB:>6}" == "  blob"
    assert DataType("dir") is DataType.DIRECTORY and DataType.BLOB == "blob"


@pytest.mark.parametrize("declared,types,problem", [
    (["blob"], ["blob"], None),
    (["blob"], ["dir"], "input 0 is a dir, but task type 'x/y' takes a blob there"),
    (["blob"], [], "takes exactly 1 input (blob), got 0"),
    (["blob"], ["blob", "blob"], "takes exactly 1 input (blob), got 2"),
    ([], ["blob"], "takes exactly 0 inputs (none), got 1"),
    (["dir", "*blob"], ["dir"], None),
    (["dir", "*blob"], ["dir", "blob", "blob"], None),
    (["dir", "*blob"], ["dir", "blob", "dir"], "input 2 is a dir, but task type 'x/y' takes a blob there"),
    (["dir", "*blob"], [], "takes at least 1 input (dir, *blob), got 0"),
    (["any", "dir"], ["blob", "dir"], None),
    (["*any"], ["dir", "blob"], None),
])
def test_input_mismatch(declared, types, problem):
    found = input_mismatch("x/y", declared, types)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_mismatch_names_the_input_label():
    assert input_mismatch("x/y", ["blob", "blob"], ["blob", "dir"], [None, "tree"]) == (
        "input 1 ('tree') is a dir, but task type 'x/y' takes a blob there")


async def _run(ctx):
    return None


@pytest.mark.parametrize("bad,match", [
    ("blob", "must be a list"),
    (["tree"], "invalid input kind 'tree'"),
    (["*blob", "dir"], "only the last may be starred"),
    ([3], "invalid input kind 3"),
])
def test_invalid_declarations_are_refused(bad, match):
    with pytest.raises((TypeError, ValueError), match=match):
        TaskType("x/y", _run, inputs=bad)


def test_declarations_accept_data_types_and_default_to_anything():
    assert TaskType("x/y", _run, inputs=[DataType.BLOB, "*dir"]).inputs == ("blob", "*dir")
    assert TaskType("x/y", _run).inputs is None
    assert TaskType("x/y", _run).checking_inputs().run is _run


class _Ctx:
    """The members of a task context the input check reads."""

    def __init__(self, *instances: DataInstance) -> None:
        self.inputs = LabeledList(instances)
        self.spec = TaskSpec(ID(1, 9), "x/y", inputs=[TaskSpecInput(ID(1, i), f"in{i}") for i in range(len(instances))])


BLOB = DataInstance("blob", data=b"abc")
DIR = DataInstance("dir", data=b"")


async def test_checking_run_refuses_a_dir_before_the_plugin_sees_it():
    seen = []

    @task_type("x/y", inputs=["blob"])
    async def digest(ctx):
        seen.append(ctx.inputs[0].get_bytes())
        return "ran"

    checked = digest.checking_inputs()
    assert await checked.run(_Ctx(BLOB)) == "ran"
    with pytest.raises(TaskError, match=r"input 0 \('in0'\) is a dir, but task type 'x/y' takes a blob there"):
        await checked.run(_Ctx(DIR))
    assert seen == [b"abc"]
    await trio.lowlevel.checkpoint()


def test_checking_inline_run_stays_inline():
    @task_type("x/y", inline=True, inputs=["*blob"])
    def join(ctx):
        return b"".join(i.get_bytes() for i in ctx.inputs)

    checked = join.checking_inputs()
    assert checked.inline and checked.run(_Ctx(BLOB, BLOB)) == b"abcabc"
    with pytest.raises(TaskError, match="input 1 \\('in1'\\) is a dir"):
        checked.run(_Ctx(BLOB, DIR))
