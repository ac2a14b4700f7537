"""The server's in-memory graph: plain mutable records, indexed so every event costs O(1).

Records are `attrs.define` (slotted, mutable) because a session may hold a million of them;
nothing here does I/O.
"""

from __future__ import annotations

from typing import Any

import attrs

from rain.common.attributes import ObjectInfo, ObjectSpec, TaskInfo, TaskSpec
from rain.common.ids import ID
from rain.common.states import DataObjectState, TaskState


QUEUE_AHEAD_PER_CPU = 16


@attrs.define(eq=False)
class Waiter:
    """A client request answered when `remaining` reaches zero (or the session fails)."""

    link: Any
    request_id: int
    remaining: int
    fetch_object: ObjectNode | None = None


@attrs.define(eq=False)
class ObjectNode:
    spec: ObjectSpec
    session: SessionState
    keep: bool = False
    state: DataObjectState = DataObjectState.unfinished
    info: ObjectInfo = attrs.Factory(ObjectInfo)
    producer: TaskNode | None = None
    consumers: list[TaskNode] = attrs.Factory(list)
    pending_consumers: int = 0
    holders: set[str] = attrs.Factory(set)
    test_holders: set[str] = attrs.Factory(set)
    size: int = 0
    data: bytes | None = None
    waiters: list[Waiter] | None = None

    @property
    def id(self) -> ID:
        return self.spec.id

    @property
    def needed(self) -> bool:
        return self.keep or self.pending_consumers > 0


@attrs.define(eq=False)
class TaskNode:
    spec: TaskSpec
    session: SessionState
    inputs: list[ObjectNode]
    outputs: list[ObjectNode]
    state: TaskState = TaskState.not_assigned
    info: TaskInfo = attrs.Factory(TaskInfo)
    unfinished_inputs: int = 0
    governor: GovernorState | None = None
    waiters: list[Waiter] | None = None

    @property
    def id(self) -> ID:
        return self.spec.id

    @property
    def cpus(self) -> int:
        return self.spec.cpus


@attrs.define(eq=False)
class SessionState:
    id: int
    name: str
    client: Any
    tasks: dict[ID, TaskNode] = attrs.Factory(dict)
    objects: dict[ID, ObjectNode] = attrs.Factory(dict)
    unfinished_tasks: int = 0
    error: str | None = None
    failed_task: Any = None
    closed: bool = False
    all_waiters: list[Waiter] = attrs.Factory(list)
    waiters: set[Waiter] = attrs.Factory(set)

    @property
    def alive(self) -> bool:
        return not self.closed and self.error is None


@attrs.define(eq=False)
class GovernorState:
    id: str
    cpus: int
    task_types: frozenset[str]
    link: Any
    free_cpus: int = 0
    queue_capacity: int = 0
    running: dict[ID, TaskNode] = attrs.Factory(dict)
    objects: set[ID] = attrs.Factory(set)
    to_delete: dict[ID, float] = attrs.Factory(dict)

    def __attrs_post_init__(self) -> None:
        self.free_cpus = self.cpus
        self.queue_capacity = QUEUE_AHEAD_PER_CPU * max(self.cpus, 1)

    @property
    def data_address(self) -> str:
        """Governors are named by the address of their data port."""
        return self.id

    def summary(self) -> dict[str, Any]:
        return {
            "governor_id": self.id,
            "tasks": [list(i) for i in self.running],
            "objects": [list(i) for i in self.objects if i not in self.to_delete],
            "objects_to_delete": [list(i) for i in self.to_delete],
            "resources": {"cpus": self.cpus},
            "free_cpus": self.free_cpus,
            "task_types": sorted(self.task_types),
        }
