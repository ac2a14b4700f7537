"""Validation of one submit, done completely before anything is applied.

A refused submit leaves the session exactly as it was, so the user can fix the graph and
submit again. Every check is linear in the size of the submit.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import attrs

from rain.common.attributes import ObjectSpec, TaskSpec
from rain.common.content_types import check_content_type
from rain.common.ids import ID
from rain.core.server.state import SessionState


class SubmitError(Exception):
    """The submit is refused; the message names the offending task, object or type."""


@attrs.define
class ObjectRecord:
    spec: ObjectSpec
    keep: bool
    data: bytes | None
    size_hint: int | None


@attrs.define
class ParsedSubmit:
    tasks: list[TaskSpec]
    objects: list[ObjectRecord]


def parse_submit(
    session: SessionState,
    tasks_wire: list[Any],
    objects_wire: list[Any],
    offered_types: set[str] | None,
    largest_governor: int | None,
) -> ParsedSubmit:
    """Decodes and checks a submit against the session; raises SubmitError naming the problem.

    `offered_types`/`largest_governor` are None while no governor is connected (tasks then wait).
    """
    try:
        objects = [_parse_object(o, session.id) for o in objects_wire]
        tasks = [TaskSpec.from_wire(t) for t in tasks_wire]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SubmitError(f"malformed submit: {exc}") from None
    new_objects: dict[ID, ObjectRecord] = {}
    for rec in objects:
        oid = rec.spec.id
        if oid in new_objects or oid in session.objects or oid in session.tasks:
            raise SubmitError(f"duplicate object id {oid}")
        new_objects[oid] = rec
    new_tasks: dict[ID, TaskSpec] = {}
    producer: dict[ID, TaskSpec] = {}
    for spec in tasks:
        _check_task(spec, session)
        if spec.id in new_tasks or spec.id in session.tasks or spec.id in session.objects or spec.id in new_objects:
            raise SubmitError(f"duplicate task id {spec.id}")
        new_tasks[spec.id] = spec
        if offered_types is not None and spec.task_type not in offered_types:
            raise SubmitError(f"task {_task_name(spec)}: no governor offers task type {spec.task_type!r}")
        if largest_governor is not None and spec.cpus > largest_governor:
            raise SubmitError(
                f"task {_task_name(spec)} requests {spec.cpus} cpus but the largest governor has {largest_governor}"
            )
        for oid in spec.outputs:
            rec = new_objects.get(oid)
            if rec is None:
                raise SubmitError(f"task {_task_name(spec)}: output {oid} is not an object of this submit")
            if rec.data is not None:
                raise SubmitError(f"task {_task_name(spec)}: output {oid} is a constant")
            if oid in producer:
                raise SubmitError(f"object {oid} is an output of two tasks")
            producer[oid] = spec
        for inp in spec.inputs:
            if inp.id in new_objects:
                continue
            old = session.objects.get(inp.id)
            if old is None:
                raise SubmitError(f"task {_task_name(spec)}: unknown input id {inp.id}")
            if not old.keep:
                raise SubmitError(f"task {_task_name(spec)}: input {inp.id} is from an earlier submit and was not kept")
    for oid, rec in new_objects.items():
        if rec.data is None and oid not in producer:
            raise SubmitError(f"object {oid} has neither data nor a producing task")
    _check_acyclic(tasks, producer)
    return ParsedSubmit(tasks, objects)


def _parse_object(wire: dict[str, Any], session_id: int) -> ObjectRecord:
    spec = ObjectSpec.from_wire(wire["spec"])
    if spec.id.session_id != session_id:
        raise ValueError(f"object {spec.id} does not belong to session {session_id}")
    check_content_type(spec.content_type)
    if spec.data_type not in ("blob", "dir"):
        raise ValueError(f"object {spec.id}: invalid data type {spec.data_type!r}")
    data = wire.get("data")
    if data is not None and not isinstance(data, bytes):
        raise ValueError(f"object {spec.id}: data must be bytes")
    return ObjectRecord(spec, bool(wire.get("keep")), data, wire.get("size_hint"))


def _check_task(spec: TaskSpec, session: SessionState) -> None:
    if spec.id.session_id != session.id:
        raise SubmitError(f"task {spec.id} does not belong to session {session.id}")
    if not isinstance(spec.task_type, str) or not spec.task_type:
        raise SubmitError(f"task {spec.id}: invalid task type {spec.task_type!r}")
    cpus = spec.resources.get("cpus", 1)
    if not isinstance(cpus, int) or cpus < 0:
        raise SubmitError(f"task {_task_name(spec)}: invalid cpus {cpus!r}")


def _check_acyclic(tasks: list[TaskSpec], producer: dict[ID, TaskSpec]) -> None:
    """Kahn's algorithm over the new tasks only (older objects are finished or in flight)."""
    waiting: dict[ID, int] = {}
    dependents: dict[ID, list[TaskSpec]] = {}
    for spec in tasks:
        count = 0
        for inp in spec.inputs:
            prod = producer.get(inp.id)
            if prod is not None:
                count += 1
                dependents.setdefault(prod.id, []).append(spec)
        waiting[spec.id] = count
    queue = deque(spec for spec in tasks if waiting[spec.id] == 0)
    done = 0
    while queue:
        spec = queue.popleft()
        done += 1
        for dep in dependents.get(spec.id, ()):
            waiting[dep.id] -= 1
            if waiting[dep.id] == 0:
                queue.append(dep)
    if done != len(tasks):
        stuck = next(spec for spec in tasks if waiting[spec.id] > 0)
        raise SubmitError(f"the graph has a cycle through task {_task_name(stuck)}")


def _task_name(spec: TaskSpec) -> str:
    return f"{spec.name!r} {spec.id}" if spec.name else str(spec.id)
