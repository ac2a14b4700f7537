"""Specs (what the user asked for, frozen at submit) and infos (what happened, written by governors).

The wire form of each record is a plain CBOR map built by `to_wire`; `from_wire` is the named
constructor for the other direction, so the codec never guesses field types.
"""

from __future__ import annotations

from typing import Any

import attrs

from rain.common.ids import ID


@attrs.define
class TaskSpecInput:
    id: ID
    label: str | None = None

    def to_wire(self) -> list[Any]:
        return [list(self.id), self.label]

    @classmethod
    def from_wire(cls, value: list[Any]) -> TaskSpecInput:
        return cls(ID.from_wire(value[0]), value[1])


@attrs.define
class TaskSpec:
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
        return {
            "id": list(self.id),
            "task_type": self.task_type,
            "config": self.config,
            "inputs": [i.to_wire() for i in self.inputs],
            "outputs": [list(o) for o in self.outputs],
            "resources": self.resources,
            "name": self.name,
            "user": self.user,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> TaskSpec:
        return cls(
            id=ID.from_wire(d["id"]),
            task_type=d["task_type"],
            config=d.get("config"),
            inputs=[TaskSpecInput.from_wire(i) for i in d.get("inputs", ())],
            outputs=[ID.from_wire(o) for o in d.get("outputs", ())],
            resources=d.get("resources") or {"cpus": 1},
            name=d.get("name"),
            user=d.get("user") or {},
        )


@attrs.define
class TaskInfo:
    error: str = ""
    start_time: float | None = None
    duration: float | None = None
    governor: str | None = None
    debug: str = ""
    user: dict[str, Any] = attrs.Factory(dict)

    def to_wire(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_wire(cls, d: dict[str, Any] | None) -> TaskInfo:
        return cls(**(d or {}))


@attrs.define
class ObjectSpec:
    id: ID
    label: str | None = None
    content_type: str | None = None
    data_type: str = "blob"
    user: dict[str, Any] = attrs.Factory(dict)

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": list(self.id),
            "label": self.label,
            "content_type": self.content_type,
            "data_type": self.data_type,
            "user": self.user,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> ObjectSpec:
        return cls(
            id=ID.from_wire(d["id"]),
            label=d.get("label"),
            content_type=d.get("content_type"),
            data_type=d.get("data_type", "blob"),
            user=d.get("user") or {},
        )


@attrs.define
class ObjectInfo:
    error: str = ""
    size: int | None = None
    content_type: str | None = None
    debug: str = ""
    user: dict[str, Any] = attrs.Factory(dict)

    def to_wire(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_wire(cls, d: dict[str, Any] | None) -> ObjectInfo:
        return cls(**(d or {}))
