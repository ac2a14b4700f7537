"""The server's in-memory graph: plain mutable records, indexed so every event costs O(1).

Records are `attrs.define` (slotted, mutable) because a session may hold a million of them.
Nodes are keyed by their session-local int id, keep the task's wire row to forward it to a
governor unchanged, and drop links they no longer need once finished, so a finished graph
costs little memory. Nothing here does I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from rain.common.ids import ID, make_id
from rain.common.rows import TASK_ID, TASK_NAME
from rain.common.states import DataObjectState, TaskState

if TYPE_CHECKING:
    from rain.core.server.links import ClientSink, GovernorSink

QUEUE_AHEAD_PER_CPU = 64
_TIMES = frozenset(("start_time", "duration", "governor"))  # a task's info that is not kept as extra


@attrs.define(eq=False)
class Waiter:
    """A client request answered when `remaining` reaches zero (or the session fails)."""

    link: ClientSink
    request_id: int
    remaining: int
    fetch_object: ObjectNode | None = None


@attrs.define(eq=False)
class ObjectNode:
    session: SessionState
    id: int
    label: str | None
    content_type: str | None
    data_type: str
    user: dict[str, Any] | None
    keep: bool = False
    state: DataObjectState = DataObjectState.unfinished
    extra_info: dict[str, Any] | None = None
    consumers: list[TaskNode] | None = None
    pending_consumers: int = 0
    holders: list[str] = attrs.Factory(list)
    test_holders: list[str] | None = None
    size: int = 0
    data: bytes | None = None
    waiters: list[Waiter] | None = None
    producer: TaskNode | None = None  # the lineage: re-run to recompute the object when lost

    @property
    def full_id(self) -> ID:
        return make_id((self.session.id, self.id))

    @property
    def available(self) -> bool:
        """Whether a copy exists: on a governor, or the server's own (a constant)."""
        return self.data is not None or (self.state is DataObjectState.finished and bool(self.holders))

    @property
    def needed(self) -> bool:
        return self.keep or self.pending_consumers > 0

    def row(self) -> list[Any]:
        """An ObjectRow, built as a list: it is sent with every assignment."""
        return [self.id, self.label, self.content_type, self.data_type, self.user]

    def add_holder(self, governor_id: str) -> None:
        if governor_id not in self.holders:
            self.holders.append(governor_id)

    @property
    def info(self) -> dict[str, Any]:
        """The info map; only what differs from the spec is stored (a million of these add up)."""
        info: dict[str, Any] = {"size": self.size}
        if self.content_type:
            info["content_type"] = self.content_type
        if self.extra_info:
            info.update(self.extra_info)
        return info

    def set_info(self, info: dict[str, Any]) -> None:
        self.size = info.get("size") or 0
        if len(info) == 1 and "size" in info:  # the usual report: no extras to sort out
            self.extra_info = None
            return
        extra = {k: v for k, v in info.items() if k != "size" and not (k == "content_type" and v == self.content_type)}
        self.extra_info = extra or None


@attrs.define(eq=False)
class TaskNode:
    session: SessionState
    row: list[Any]  # the submitted TaskRow, forwarded to the governor as it came
    task_type: str
    cpus: int
    inputs: list[ObjectNode]
    outputs: list[ObjectNode]
    state: TaskState = TaskState.not_assigned
    start_time: float | None = None
    duration: float | None = None
    extra_info: dict[str, Any] | None = None
    unfinished_inputs: int = 0
    governor: GovernorState | None = None
    waiters: list[Waiter] | None = None
    attempts: Attempts | None = None  # made at the first retry: most tasks run once

    @property
    def id(self) -> int:
        return self.row[TASK_ID]

    @property
    def full_id(self) -> ID:
        return make_id((self.session.id, self.row[TASK_ID]))

    @property
    def name(self) -> str | None:
        return self.row[TASK_NAME]

    @property
    def info(self) -> dict[str, Any] | None:
        if self.start_time is None and self.extra_info is None and self.attempts is None:
            return None
        info: dict[str, Any] = {"start_time": self.start_time, "duration": self.duration}
        if self.governor is not None:
            info["governor"] = self.governor.id
        if self.attempts is not None:
            info["attempts"] = self.attempts.count
            info["attempt_errors"] = list(self.attempts.errors)
        if self.extra_info:
            info.update(self.extra_info)
            info.pop("output_tails", None)  # kept for the monitoring inspector, not for clients
        return info

    @property
    def output_tails(self) -> dict[str, str] | None:
        """The tails of a program's stdout/stderr, as its governor reported them."""
        return self.extra_info.get("output_tails") if self.extra_info else None

    def set_info(self, info: dict[str, Any]) -> None:
        self.start_time = info.get("start_time")
        self.duration = info.get("duration")
        if info.keys() <= _TIMES:  # the usual report: no extras to sort out
            self.extra_info = None
            return
        extra = {k: v for k, v in info.items() if k not in _TIMES}
        self.extra_info = extra or None

    def describe(self) -> str:
        name = self.row[TASK_NAME]
        return f"{name!r} {self.full_id}" if name else str(self.full_id)


@attrs.define(eq=False)
class Attempts:
    """A task's earlier runs: the error of each, the governors lost under it (strikes, which
    include crashed executors) and how many failed by the task's own error (its `retries`)."""

    errors: list[str] = attrs.Factory(list)
    lost_on: list[str] = attrs.Factory(list)
    own_failures: int = 0

    @property
    def count(self) -> int:
        """The number of the current (or last) attempt, from 1."""
        return len(self.errors) + 1


@attrs.define(eq=False)
class SessionState:
    id: int
    name: str
    client: Any  # the creating client's link; None once a keep-alive session lost it
    keep_alive: bool = False
    tasks: dict[int, TaskNode] = attrs.Factory(dict)
    objects: dict[int, ObjectNode] = attrs.Factory(dict)
    unfinished_tasks: int = 0
    error: str | None = None
    failed_task: Any = None
    closed: bool = False
    all_waiters: list[Waiter] = attrs.Factory(list)
    waiters: set[Waiter] = attrs.Factory(set)

    @property
    def alive(self) -> bool:
        return not self.closed and self.error is None

    @property
    def status(self) -> str:
        if self.error is not None:
            return "failed"
        return "running" if self.unfinished_tasks else "idle"


@attrs.define(eq=False)
class GovernorState:
    id: str
    cpus: int
    task_types: frozenset[str]
    link: GovernorSink
    input_kinds: dict[str, list[str]] = attrs.Factory(dict)  # task type -> accepted inputs
    free_cpus: int = 0
    queue_capacity: int = 0
    running: dict[ID, TaskNode] = attrs.Factory(dict)
    objects: set[ID] = attrs.Factory(set)
    to_delete: dict[ID, float] = attrs.Factory(dict)
    # Tasks elsewhere whose fetch from this governor failed while it still looked alive: they
    # run again when it is lost, or on its next heartbeat.
    suspected_by: list[TaskNode] = attrs.Factory(list)

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
