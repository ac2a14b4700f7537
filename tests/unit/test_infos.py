"""Task and object infos on the wire: only the fields that differ from their defaults travel,
and every field comes back as it was sent."""

from __future__ import annotations

import attrs
import pytest

from rain.common.attributes import ObjectInfo, TaskInfo

CHANGED = {"error": "boom", "start_time": 1.5, "duration": 0.25, "governor": "g:1", "debug": "line",
           "user": {"k": [1]}, "attempts": 2, "attempt_errors": ["first"], "size": 7, "content_type": "text"}


@pytest.mark.parametrize("cls", [TaskInfo, ObjectInfo])
def test_defaults_travel_as_nothing(cls):
    assert cls().to_wire() == {}
    assert cls.from_wire({}) == cls()


@pytest.mark.parametrize("cls", [TaskInfo, ObjectInfo])
def test_each_changed_field_travels_alone(cls):
    for field in attrs.fields(cls):
        info = cls(**{field.name: CHANGED[field.name]})
        assert info.to_wire() == {field.name: CHANGED[field.name]}, field.name
        assert cls.from_wire(info.to_wire()) == info


@pytest.mark.parametrize("cls", [TaskInfo, ObjectInfo])
def test_all_fields_round_trip(cls):
    info = cls(**{field.name: CHANGED[field.name] for field in attrs.fields(cls)})
    assert cls.from_wire(info.to_wire()) == info
