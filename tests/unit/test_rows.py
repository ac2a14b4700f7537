"""Wire rows: named tuples on the sending side, plain arrays on the wire, same layout."""

from __future__ import annotations

import cbor2

from rain.common import rows
from rain.common.attributes import ObjectSpec, TaskSpec, TaskSpecInput
from rain.common.ids import ID


def test_a_submitted_object_starts_with_its_spec_row():
    assert rows.SubmittedObject._fields[: len(rows.ObjectRow._fields)] == rows.ObjectRow._fields


def test_field_positions_match_the_named_tuples():
    for layout, prefix in ((rows.TaskRow, "TASK_"), (rows.SubmittedObject, "OBJECT_")):
        for index, field in enumerate(layout._fields):
            name = prefix + ("TYPE" if field == "task_type" else field.upper())
            assert getattr(rows, name) == index, name


def test_named_rows_travel_as_plain_arrays():
    spec = TaskSpec(ID(3, 1), "t/x", {"k": 1}, [TaskSpecInput(ID(3, 2), "in")], [ID(3, 4)], {"cpus": 2}, "n")
    row = spec.to_row()
    assert isinstance(row, rows.TaskRow) and row.inputs == [2, "in"] and row.resources == 2
    decoded = cbor2.loads(cbor2.dumps(row))
    assert decoded == list(row)
    assert TaskSpec.from_row(3, decoded) == spec
    obj = ObjectSpec(ID(3, 4), "out", "text", "blob", {"u": 1})
    assert ObjectSpec.from_row(3, cbor2.loads(cbor2.dumps(obj.to_row()))) == obj
