"""Validation of one submit, done completely before anything is applied.

A refused submit leaves the session exactly as it was, so the user can fix the graph and
submit again. Every check is linear in the size of the submit. Rows are the decoded wire lists
of `rain.common.rows.TaskRow` and `SubmittedObject`, read through their field positions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from rain.common.content_types import check_content_type
from rain.common.resources import is_cpu_count
from rain.common.rows import (
    OBJECT_CONTENT_TYPE,
    OBJECT_DATA,
    OBJECT_DATA_TYPE,
    OBJECT_ID,
    OBJECT_KEEP,
    OBJECT_LABEL,
    OBJECT_SIZE_HINT,
    OBJECT_USER,
    TASK_ID,
    TASK_INPUTS,
    TASK_NAME,
    TASK_OUTPUTS,
    TASK_RESOURCES,
    TASK_TYPE,
    TASK_USER,
    SubmittedObject,
    TaskRow,
)
from rain.core.server.state import SessionState
from rain.plugins.api import input_mismatch


class SubmitError(Exception):
    """The submit is refused; the message names the offending task, object or type."""


@attrs.frozen
class SubmitLimits:
    """The largest submit a server accepts (`rain server --max-submit-tasks/--max-submit-bytes`).

    The byte limit is below the client frame limit by default, so a too-large submit gets this
    clear refusal instead of a closed connection."""

    max_tasks: int = 2_000_000
    max_bytes: int = 256 * 1024 * 1024


def check_submit_size(limits: SubmitLimits, tasks: Any, frame_size: int) -> None:
    if isinstance(tasks, list) and len(tasks) > limits.max_tasks:
        raise SubmitError(f"{len(tasks):,} tasks in one submit, more than this server accepts "
                          f"({limits.max_tasks:,}, rain server --max-submit-tasks); submit the graph in parts")
    if frame_size > limits.max_bytes:
        raise SubmitError(f"the submit is {frame_size:,} bytes, more than this server accepts "
                          f"({limits.max_bytes:,}, rain server --max-submit-bytes); keep large data out of "
                          "constants (e.g. tasks.Load) or submit the graph in parts")


def task_cpus(row: list[Any]) -> int:
    resources = row[TASK_RESOURCES]
    return resources if isinstance(resources, int) else resources.get("cpus", 1)


def task_retries(row: list[Any]) -> int:
    """How many times the task may run again after its own error (`retries` in its resources)."""
    resources = row[TASK_RESOURCES]
    return 0 if isinstance(resources, int) else resources.get("retries", 0)


def check_submit(
    session: SessionState,
    tasks: list[Any],
    objects: list[Any],
    offered_types: set[str] | None,
    largest_governor: int | None,
    input_kinds: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Raises SubmitError naming the problem; `offered_types`/`largest_governor` are None while
    no governor is connected (tasks then wait for one). `input_kinds` holds the inputs that
    task types declared (task type -> kinds, see `rain.plugins.api.input_mismatch`)."""
    if not isinstance(tasks, list) or not isinstance(objects, list):
        raise SubmitError("malformed submit: tasks and objects must be lists")
    new_objects: dict[int, list[Any]] = {}
    old_objects, old_tasks = session.objects, session.tasks
    for row in objects:
        if not _is_plain_object_row(row):
            _check_object_row(row)
        oid = row[OBJECT_ID]
        if oid in new_objects or oid in old_objects or oid in old_tasks:
            raise SubmitError(f"duplicate object id {_full(session, oid)}")
        new_objects[oid] = row
    new_tasks: set[int] = set()
    producer: dict[int, list[Any]] = {}
    checked_type = None  # the last task type found offered (most submits have one or two)
    for row in tasks:
        if not _is_plain_task_row(row):
            _check_task_row(row, session)
        tid = row[TASK_ID]
        if tid in new_tasks or tid in old_tasks or tid in old_objects or tid in new_objects:
            raise SubmitError(f"duplicate task id {_full(session, tid)}")
        new_tasks.add(tid)
        task_type = row[TASK_TYPE]
        if task_type != checked_type:
            if offered_types is not None and task_type not in offered_types:
                raise SubmitError(f"task {_task_name(session, row)}: no governor offers task type {task_type!r}")
            checked_type = task_type
        resources = row[TASK_RESOURCES]
        cpus = resources if type(resources) is int else task_cpus(row)
        if largest_governor is not None and cpus > largest_governor:
            raise SubmitError(f"task {_task_name(session, row)} requests {cpus} cpus but the largest governor "
                              f"has {largest_governor}")
        for oid in row[TASK_OUTPUTS]:
            obj = new_objects.get(oid)
            if obj is None or obj[OBJECT_DATA] is not None or oid in producer:
                _refuse_output(session, row, oid, obj)
            producer[oid] = row
        inputs = row[TASK_INPUTS]
        for i in range(0, len(inputs), 2):
            oid = inputs[i]
            if oid in new_objects:
                continue
            old = old_objects.get(oid)
            if old is None:
                raise SubmitError(f"task {_task_name(session, row)}: unknown input id {_full(session, oid)}")
            if not old.keep:
                raise SubmitError(f"task {_task_name(session, row)}: input {_full(session, oid)} is from an "
                                  "earlier submit and was not kept")
        declared = input_kinds.get(task_type) if input_kinds else None
        if declared is not None:
            _check_input_kinds(session, _task_name(session, row), row, declared, new_objects)
    for oid, row in new_objects.items():
        if row[OBJECT_DATA] is None and oid not in producer:
            raise SubmitError(f"object {_full(session, oid)} has neither data nor a producing task")
    _check_acyclic(session, tasks, producer)


def _refuse_output(session: SessionState, row: list[Any], oid: int, obj: list[Any] | None) -> None:
    name = _task_name(session, row)
    if obj is None:
        raise SubmitError(f"task {name}: output {_full(session, oid)} is not an object of this submit")
    if obj[OBJECT_DATA] is not None:
        raise SubmitError(f"task {name}: output {_full(session, oid)} is a constant")
    raise SubmitError(f"object {_full(session, oid)} is an output of two tasks")


_TASK_ROW_SIZE = len(TaskRow._fields)
_OBJECT_ROW_SIZE = len(SubmittedObject._fields)


def _is_plain_task_row(row: Any) -> bool:
    """Whether the row has the most common shape (exact types, CPUs as an int, no user data),
    which `_check_task_row` would pass; a False leaves the row to it. A quick test run on every
    row of a submit of 10^5 tasks, where the detailed checks cost a few microseconds each."""
    if type(row) is not list or len(row) != _TASK_ROW_SIZE:
        return False
    tid, task_type, _config, inputs, outputs, resources, name, user = row
    if (type(tid) is not int or type(task_type) is not str or not task_type or type(resources) is not int
            or resources < 0 or type(inputs) is not list or len(inputs) % 2 or type(outputs) is not list
            or (name is not None and type(name) is not str) or user is not None):
        return False
    for i in range(0, len(inputs), 2):
        if type(inputs[i]) is not int:
            return False
    for oid in outputs:  # noqa: SIM110 (all() + a generator costs more)
        if type(oid) is not int:
            return False
    return True


def _is_plain_object_row(row: Any) -> bool:
    """Like `_is_plain_task_row`, for an object row: no content type or user data, a blob."""
    if type(row) is not list or len(row) != _OBJECT_ROW_SIZE:
        return False
    oid, _label, content_type, data_type, user, keep, data, size_hint = row
    return (type(oid) is int and content_type is None and data_type == "blob" and user is None
            and type(keep) is bool and (data is None or type(data) is bytes)
            and (size_hint is None or type(size_hint) is int))


def _check_object_row(row: Any) -> None:
    if not isinstance(row, list) or len(row) != len(SubmittedObject._fields) or not isinstance(row[OBJECT_ID], int):
        raise SubmitError(f"malformed object record {row!r:.100}")
    oid, content_type, data_type = row[OBJECT_ID], row[OBJECT_CONTENT_TYPE], row[OBJECT_DATA_TYPE]
    user, keep, data, size_hint = row[OBJECT_USER], row[OBJECT_KEEP], row[OBJECT_DATA], row[OBJECT_SIZE_HINT]
    try:
        check_content_type(content_type)
    except ValueError as exc:
        raise SubmitError(f"object {oid}: {exc}") from None
    if data_type not in ("blob", "dir"):
        raise SubmitError(f"object {oid}: invalid data type {data_type!r}")
    if not (user is None or isinstance(user, dict)) or not isinstance(keep, bool):
        raise SubmitError(f"malformed object record {oid}")
    if not (data is None or isinstance(data, bytes)) or not (size_hint is None or isinstance(size_hint, int)):
        raise SubmitError(f"malformed object record {oid}")


def _check_task_row(row: Any, session: SessionState) -> None:
    if not isinstance(row, list) or len(row) != len(TaskRow._fields) or not isinstance(row[TASK_ID], int):
        raise SubmitError(f"malformed task record {row!r:.100}")
    tid, task_type, inputs, outputs = row[TASK_ID], row[TASK_TYPE], row[TASK_INPUTS], row[TASK_OUTPUTS]
    resources, name, user = row[TASK_RESOURCES], row[TASK_NAME], row[TASK_USER]
    if not isinstance(task_type, str) or not task_type:
        raise SubmitError(f"task {_full(session, tid)}: invalid task type {task_type!r}")
    if not isinstance(inputs, list) or len(inputs) % 2 or not all(isinstance(i, int) for i in inputs[::2]):
        raise SubmitError(f"task {_full(session, tid)}: malformed inputs")
    if not isinstance(outputs, list) or not all(isinstance(o, int) for o in outputs):
        raise SubmitError(f"task {_full(session, tid)}: malformed outputs")
    cpus = resources if isinstance(resources, int) else (
        resources.get("cpus", 1) if isinstance(resources, dict) else None)
    if not is_cpu_count(cpus):
        raise SubmitError(f"task {_full(session, tid)}: invalid resources {resources!r}")
    retries = resources.get("retries", 0) if isinstance(resources, dict) else 0
    if type(retries) is not int or retries < 0:
        raise SubmitError(f"task {_full(session, tid)}: invalid retries {retries!r}")
    if not (name is None or isinstance(name, str)) or not (user is None or isinstance(user, dict)):
        raise SubmitError(f"task {_full(session, tid)}: malformed name or user data")


def _check_input_kinds(session: SessionState, name: str, row: list[Any], declared: Sequence[str],
                       new_objects: dict[int, list[Any]]) -> None:
    inputs = row[TASK_INPUTS]
    data_types, labels = [], []
    for oid, label in zip(inputs[::2], inputs[1::2], strict=True):
        new = new_objects.get(oid)
        old = session.objects[oid] if new is None else None
        data_types.append(new[OBJECT_DATA_TYPE] if new is not None else old.data_type)  # type: ignore[union-attr]
        labels.append(label if label is not None else (
            new[OBJECT_LABEL] if new is not None else old.label))  # type: ignore[union-attr]
    problem = input_mismatch(row[TASK_TYPE], declared, data_types, labels)
    if problem is not None:
        raise SubmitError(f"task {name}: {problem}")


def _check_acyclic(session: SessionState, tasks: list[Any], producer: dict[int, list[Any]]) -> None:
    """Kahn's algorithm over the new tasks only (older objects are finished or in flight).

    Not needed when every task's new inputs come from tasks with smaller ids (a client numbers
    tasks as they are made, so it is the usual case): that order is then a topological one."""
    if not producer or _ordered_by_id(tasks, producer):
        return
    waiting: dict[int, int] = {}
    dependents: dict[int, list[list[Any]]] = {}
    for row in tasks:
        count = 0
        inputs = row[TASK_INPUTS]
        for i in range(0, len(inputs), 2):
            prod = producer.get(inputs[i])
            if prod is not None:
                count += 1
                dependents.setdefault(prod[TASK_ID], []).append(row)
        waiting[row[TASK_ID]] = count
    queue = deque(row for row in tasks if waiting[row[TASK_ID]] == 0)
    done = 0
    while queue:
        row = queue.popleft()
        done += 1
        for dep in dependents.get(row[TASK_ID], ()):
            waiting[dep[TASK_ID]] -= 1
            if waiting[dep[TASK_ID]] == 0:
                queue.append(dep)
    if done != len(tasks):
        stuck = next(row for row in tasks if waiting[row[TASK_ID]] > 0)
        raise SubmitError(f"the graph has a cycle through task {_task_name(session, stuck)}")


def _ordered_by_id(tasks: list[Any], producer: dict[int, list[Any]]) -> bool:
    for row in tasks:
        tid, inputs = row[TASK_ID], row[TASK_INPUTS]
        for i in range(0, len(inputs), 2):
            prod = producer.get(inputs[i])
            if prod is not None and prod[TASK_ID] >= tid:
                return False
    return True


def _full(session: SessionState, local_id: int) -> str:
    return f"ID({session.id}, {local_id})"


def _task_name(session: SessionState, row: list[Any]) -> str:
    name, tid = row[TASK_NAME], row[TASK_ID]
    return f"{name!r} {_full(session, tid)}" if name else _full(session, tid)
