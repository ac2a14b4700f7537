"""Specs (what the user asked for, frozen at submit) and infos (what happened, written by governors).

Wire forms. Specs travel as positional rows with session-local ids (the session id is sent
once per message), laid out by `rain.common.rows.TaskRow` and `ObjectRow`: a 10^5-task submit
decodes about ten times faster as arrays of small ints than as maps of `[session, id]` pairs.
Infos are small maps that omit default values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from rain.common.ids import ID, make_id
from rain.common.rows import (
    OBJECT_CONTENT_TYPE,
    OBJECT_DATA_TYPE,
    OBJECT_ID,
    OBJECT_LABEL,
    OBJECT_USER,
    TASK_CONFIG,
    TASK_ID,
    TASK_INPUTS,
    TASK_NAME,
    TASK_OUTPUTS,
    TASK_RESOURCES,
    TASK_TYPE,
    TASK_USER,
    ObjectRow,
    TaskRow,
)


@attrs.define
class TaskSpecInput:
    """One input of a task: the object's id and the input's label."""

    id: ID
    label: str | None = None


def _resources_to_row(resources: dict[str, Any]) -> Any:
    return resources["cpus"] if resources.keys() == {"cpus"} else resources


def _resources_from_row(value: Any) -> dict[str, Any]:
    if isinstance(value, int):  # (`TaskSpec.from_row` makes a plain int's map itself)
        return {"cpus": value}
    if isinstance(value, dict) and isinstance(value.get("cpus", 1), int):
        return value
    raise ValueError(f"invalid resources {value!r}")


@attrs.define
class TaskSpec:
    """What a task is asked to do; set by the client, frozen at submit."""

    id: ID
    task_type: str
    config: Any = None
    inputs: list[TaskSpecInput] = attrs.Factory(list)
    outputs: list[ID] = attrs.Factory(list)
    resources: dict[str, Any] = attrs.Factory(lambda: {"cpus": 1})
    name: str | None = None
    user: dict[str, Any] = attrs.Factory(dict)

    @property
    def cpus(self) -> int:
        return int(self.resources.get("cpus", 1))

    def to_wire(self) -> dict[str, Any]:
        """A self-contained map with full ids (for messages that carry single specs)."""
        return {"session_id": self.id.session_id, "row": self.to_row()}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> TaskSpec:
        return cls.from_row(d["session_id"], d["row"])

    def to_row(self) -> TaskRow:
        inputs: list[Any] = []
        for inp in self.inputs:
            inputs += (inp.id.id, inp.label)
        return TaskRow(self.id.id, self.task_type, self.config, inputs, [o.id for o in self.outputs],
                       _resources_to_row(self.resources), self.name, self.user or None)

    @classmethod
    def from_row(cls, session_id: int, row: Sequence[Any]) -> TaskSpec:
        """A governor does this per task, so: field positions, not a TaskRow view; ids built
        by `make_id`; a task's usual single input and output without a comprehension (a call
        of its own)."""
        inputs = row[TASK_INPUTS]
        if len(inputs) == 2:
            spec_inputs = [TaskSpecInput(make_id((session_id, inputs[0])), inputs[1])]
        else:
            spec_inputs = [TaskSpecInput(make_id((session_id, inputs[i])), inputs[i + 1])
                           for i in range(0, len(inputs), 2)]
        outputs = row[TASK_OUTPUTS]
        if len(outputs) == 1:
            output_ids = [make_id((session_id, outputs[0]))]
        else:
            output_ids = [make_id((session_id, o)) for o in outputs]
        resources = row[TASK_RESOURCES]
        return cls(
            make_id((session_id, row[TASK_ID])),
            row[TASK_TYPE],
            row[TASK_CONFIG],
            spec_inputs,
            output_ids,
            {"cpus": resources} if type(resources) is int else _resources_from_row(resources),
            row[TASK_NAME],
            row[TASK_USER] or {},
        )


@attrs.define
class TaskInfo:
    """What happened to a task: `error` (non-empty when it failed), `start_time` (epoch
    seconds), `duration` (seconds), `governor` (its id), `debug` (text it logged), `user`,
    `attempts` (its runs so far, counting the current one: a lost governor or an error it
    may retry makes one more) and `attempt_errors` (the errors of the runs it retried)."""

    error: str = ""
    start_time: float | None = None
    duration: float | None = None
    governor: str | None = None
    debug: str = ""
    user: dict[str, Any] = attrs.Factory(dict)
    attempts: int = 1
    attempt_errors: list[str] = attrs.Factory(list)

    def to_wire(self) -> dict[str, Any]:
        """The fields that differ from their defaults (spelt out: a governor does this per task)."""
        wire: dict[str, Any] = {}
        if self.error != "":
            wire["error"] = self.error
        if self.start_time is not None:
            wire["start_time"] = self.start_time
        if self.duration is not None:
            wire["duration"] = self.duration
        if self.governor is not None:
            wire["governor"] = self.governor
        if self.debug != "":
            wire["debug"] = self.debug
        if self.user != {}:
            wire["user"] = self.user
        if self.attempts != 1:
            wire["attempts"] = self.attempts
        if self.attempt_errors != []:
            wire["attempt_errors"] = self.attempt_errors
        return wire

    @classmethod
    def from_wire(cls, d: dict[str, Any] | None) -> TaskInfo:
        return cls(**d) if d else cls()


@attrs.define
class ObjectSpec:
    """What a data object is declared to be: label, content type, data type ("blob"/"dir")."""

    id: ID
    label: str | None = None
    content_type: str | None = None
    data_type: str = "blob"
    user: dict[str, Any] = attrs.Factory(dict)

    def to_wire(self) -> dict[str, Any]:
        """A self-contained map with full ids (for messages that carry single specs)."""
        return {"session_id": self.id.session_id, "row": self.to_row()}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> ObjectSpec:
        return cls.from_row(d["session_id"], d["row"])

    def to_row(self) -> ObjectRow:
        return ObjectRow(self.id.id, self.label, self.content_type, self.data_type, self.user or None)

    @classmethod
    def from_row(cls, session_id: int, row: Sequence[Any]) -> ObjectSpec:
        return cls(make_id((session_id, row[OBJECT_ID])), row[OBJECT_LABEL], row[OBJECT_CONTENT_TYPE],
                   row[OBJECT_DATA_TYPE], row[OBJECT_USER] or {})


@attrs.define
class ObjectInfo:
    """What a data object turned out to be: `size` in bytes, the dynamic `content_type`, and
    the producing task's `error`, `debug` and `user` data for it."""

    error: str = ""
    size: int | None = None
    content_type: str | None = None
    debug: str = ""
    user: dict[str, Any] = attrs.Factory(dict)

    def to_wire(self) -> dict[str, Any]:
        """The fields that differ from their defaults (spelt out: a governor does this per output)."""
        wire: dict[str, Any] = {}
        if self.error != "":
            wire["error"] = self.error
        if self.size is not None:
            wire["size"] = self.size
        if self.content_type is not None:
            wire["content_type"] = self.content_type
        if self.debug != "":
            wire["debug"] = self.debug
        if self.user != {}:
            wire["user"] = self.user
        return wire

    @classmethod
    def from_wire(cls, d: dict[str, Any] | None) -> ObjectInfo:
        return cls(**d) if d else cls()

