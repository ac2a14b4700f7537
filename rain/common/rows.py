"""Positional wire rows: the one definition of every row layout, read by name everywhere.

Specs and results travel as CBOR arrays with session-local ids, not as maps: a 10^5-task
submit decodes about ten times faster as arrays of small ints than as maps with repeated keys.
Each layout below is a `NamedTuple`: a sender builds one (cbor2 encodes a named tuple as a
plain array, so the wire is the same), and a receiver wraps the decoded list in it to read the
fields by name (`AssignedTask(*item).inputs`).

Loops over every row of a big submit or report (the server's validation and bookkeeping, up to
10^6 rows) cannot afford a view object per row (~0.4 us each); they index the decoded lists
with the `TASK_*`, `OBJECT_*`, `REPORT_*` and `OUTPUT_*` positions, which are derived from the
same named tuples, so there is still only one definition of each layout.
"""

from __future__ import annotations

from typing import Any, NamedTuple

# --- specs (client -> server, server -> governor) --------------------------------------------


class TaskRow(NamedTuple):
    """A task spec. `inputs` is flat: [input_id, label, input_id, label, ...]; `resources` is
    the number of CPUs, or a map when there is more than `{"cpus": n}`."""

    id: int
    task_type: str
    config: Any
    inputs: list[Any]
    outputs: list[int]
    resources: int | dict[str, Any]
    name: str | None
    user: dict[str, Any] | None


class ObjectRow(NamedTuple):
    """An object spec."""

    id: int
    label: str | None
    content_type: str | None
    data_type: str
    user: dict[str, Any] | None


class SubmittedObject(NamedTuple):
    """An object of a submit: its spec row (`ObjectRow`) followed by what only the server needs."""

    id: int
    label: str | None
    content_type: str | None
    data_type: str
    user: dict[str, Any] | None
    keep: bool
    data: bytes | None
    size_hint: int | None


# --- server -> governor ----------------------------------------------------------------------


class SentInput(NamedTuple):
    """An input the governor may not hold: its spec, its info, and where to get its data (the
    data address of a governor holding it, or the data itself for a constant)."""

    object: ObjectRow
    info: dict[str, Any]
    location: str | None
    data: bytes | None


class AssignedTask(NamedTuple):
    """One task of `AssignTasks`. Each input is the int id of an object the governor already
    holds, or a `SentInput`. The server forwards the task row as the client sent it, and builds
    the inner rows as plain lists (a named tuple costs seven times as much to build).
    `report_data`: the ids of the outputs whose data goes with the finish report when it is at
    most `SMALL_OUTPUT` bytes (kept outputs, which a client may fetch: the server answers that
    fetch itself)."""

    session_id: int
    task: TaskRow | list[Any]
    inputs: list[Any]  # int ids and SentInput rows
    outputs: list[Any]  # ObjectRow rows
    report_data: list[int] | None = None


# --- governor -> server ----------------------------------------------------------------------


SMALL_OUTPUT = 64 * 1024  # the largest output whose data a governor reports with its finish


class ReportedOutput(NamedTuple):
    object_id: int
    info: dict[str, Any]
    data: bytes | None = None  # a small output the server asked for (`AssignedTask.report_data`)


class FinishedTask(NamedTuple):
    session_id: int
    task_id: int
    info: dict[str, Any]
    outputs: list[ReportedOutput]


class FailedTask(NamedTuple):
    session_id: int
    task_id: int
    info: dict[str, Any]


# --- server -> client ------------------------------------------------------------------------


class NodeUpdate(NamedTuple):
    """One task or object in `Updated`: its full id, state name and info."""

    id: list[int]
    state: str
    info: dict[str, Any] | None


# --- field positions for loops over whole submits ---------------------------------------------

TASK_ID = TaskRow._fields.index("id")
TASK_TYPE = TaskRow._fields.index("task_type")
TASK_CONFIG = TaskRow._fields.index("config")
TASK_INPUTS = TaskRow._fields.index("inputs")
TASK_OUTPUTS = TaskRow._fields.index("outputs")
TASK_RESOURCES = TaskRow._fields.index("resources")
TASK_NAME = TaskRow._fields.index("name")
TASK_USER = TaskRow._fields.index("user")

# An ObjectRow is the first fields of a SubmittedObject: the same positions read both.
OBJECT_ID = SubmittedObject._fields.index("id")
OBJECT_LABEL = SubmittedObject._fields.index("label")
OBJECT_CONTENT_TYPE = SubmittedObject._fields.index("content_type")
OBJECT_DATA_TYPE = SubmittedObject._fields.index("data_type")
OBJECT_USER = SubmittedObject._fields.index("user")
OBJECT_KEEP = SubmittedObject._fields.index("keep")
OBJECT_DATA = SubmittedObject._fields.index("data")
OBJECT_SIZE_HINT = SubmittedObject._fields.index("size_hint")

REPORT_SESSION_ID = FinishedTask._fields.index("session_id")  # the same in a FailedTask
REPORT_TASK_ID = FinishedTask._fields.index("task_id")
REPORT_INFO = FinishedTask._fields.index("info")
REPORT_OUTPUTS = FinishedTask._fields.index("outputs")

OUTPUT_ID = ReportedOutput._fields.index("object_id")
OUTPUT_INFO = ReportedOutput._fields.index("info")
OUTPUT_DATA = ReportedOutput._fields.index("data")
