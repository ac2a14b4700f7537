"""Read-only views of the server's state for the monitoring API: governors, a session's graph
and one task. The server's records are never changed here.

A session graph is drawn task by task up to `MAX_GRAPH_NODES` nodes (tasks and objects);
beyond, tasks are grouped by task type with the number of objects passed between types. Large
graphs are walked in slices with a checkpoint between them, so a dashboard that asks for a
million-task graph does not stall the scheduler.
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import TYPE_CHECKING, Any

import trio

from rain.common.attributes import TaskSpec
from rain.common.rows import TASK_ID, TASK_INPUTS, TASK_NAME, TASK_OUTPUTS

if TYPE_CHECKING:
    from rain.core.server.monitor import Monitor
    from rain.core.server.server import Server
    from rain.core.server.state import SessionState, TaskNode

MAX_GRAPH_NODES = 2000
SLICE = 20_000  # tasks walked between two checkpoints
CONFIG_PREVIEW = 4000  # characters of a task's config shown by the inspector


def governors_view(server: Server, monitor: Monitor) -> list[dict[str, Any]]:
    result = []
    for gov in server.governors.values():
        busy = gov.cpus - max(gov.free_cpus, 0)
        stats = monitor.governor_stats.get(gov.id, {})
        result.append({
            "governor_id": gov.id, "cpus": gov.cpus, "busy_cpus": busy, "assigned_tasks": len(gov.running),
            "objects": len(gov.objects) - len(gov.to_delete), "task_types": sorted(gov.task_types),
            "cpu_percent": stats.get("cpu_percent"), "memory_used": stats.get("memory_used"),
            "memory_total": stats.get("memory_total"), "stored_bytes": stats.get("stored_bytes"),
            "received_bytes": stats.get("received_bytes"),
        })
    return result


def ready_count(server: Server) -> int:
    """Tasks waiting for a governor (queues may still hold a few that were since cancelled)."""
    return sum(len(queue) for queue in server.ready.values())


async def graph_view(session: SessionState, max_nodes: int = MAX_GRAPH_NODES) -> dict[str, Any]:
    """Tasks and objects with their edges, or (past `max_nodes`) task types and their flows."""
    if len(session.tasks) + len(session.objects) <= max_nodes:
        return _detailed_graph(session)
    return await _grouped_graph(session)


def _detailed_graph(session: SessionState) -> dict[str, Any]:
    tasks: list[list[Any]] = []
    edges: list[list[int]] = []
    for task in session.tasks.values():
        row = task.row
        tasks.append([row[TASK_ID], task.task_type, row[TASK_NAME], task.state.value])
        edges.extend([obj_id, row[TASK_ID]] for obj_id in row[TASK_INPUTS][::2])  # [id, label, ...]
    objects = [[obj.id, obj.label, obj.state.value, obj.size] for obj in session.objects.values()]
    producers = [[task.row[TASK_ID], obj_id] for task in session.tasks.values() for obj_id in task.row[TASK_OUTPUTS]]
    return {"mode": "tasks", "tasks": tasks, "objects": objects, "inputs": edges, "outputs": producers}


async def _grouped_graph(session: SessionState) -> dict[str, Any]:
    all_tasks = list(session.tasks.values())
    producer: dict[int, str] = {}
    types: Counter[str] = Counter()
    states: dict[str, Counter[str]] = {}
    for start in range(0, len(all_tasks), SLICE):
        for task in all_tasks[start:start + SLICE]:
            types[task.task_type] += 1
            states.setdefault(task.task_type, Counter())[task.state.value] += 1
            for obj_id in task.row[TASK_OUTPUTS]:
                producer[obj_id] = task.task_type
        await trio.lowlevel.checkpoint()
    flows: Counter[tuple[str, str]] = Counter()
    for start in range(0, len(all_tasks), SLICE):
        for task in all_tasks[start:start + SLICE]:
            for obj_id in task.row[TASK_INPUTS][::2]:
                flows[producer.get(obj_id, "(constant data)"), task.task_type] += 1
        await trio.lowlevel.checkpoint()
    return {"mode": "types", "tasks": len(all_tasks), "objects": len(session.objects),
            "types": [{"task_type": name, "count": count, "states": dict(states[name])}
                      for name, count in sorted(types.items())],
            "flows": [[src, dst, count] for (src, dst), count in sorted(flows.items())]}


def task_view(session: SessionState, task: TaskNode) -> dict[str, Any]:
    spec = TaskSpec.from_row(session.id, task.row)
    inputs = []
    for inp in spec.inputs:
        obj = session.objects.get(inp.id.id)
        inputs.append({"id": inp.id.id, "label": inp.label, "state": obj.state.value if obj else None,
                       "size": obj.size if obj else None})
    outputs = []
    for oid in spec.outputs:
        obj = session.objects.get(oid.id)
        outputs.append({"id": oid.id, "label": obj.label if obj else None,
                        "state": obj.state.value if obj else None, "size": obj.size if obj else None,
                        "content_type": obj.content_type if obj else None})
    return {
        "session_id": session.id, "task_id": spec.id.id, "task_type": spec.task_type, "name": spec.name,
        "state": task.state.value, "governor": task.governor.id if task.governor is not None else None,
        "spec": {"config": _preview(spec.config), "resources": spec.resources, "user": _jsonable(spec.user)},
        "info": _jsonable(task.info), "inputs": inputs, "outputs": outputs,
        "output_tails": task.output_tails,
    }


def _preview(value: Any) -> Any:
    text = _jsonable(value)
    if isinstance(text, str) and len(text) > CONFIG_PREVIEW:
        return text[:CONFIG_PREVIEW] + f"... ({len(text)} characters)"
    return text


def _jsonable(value: Any) -> Any:
    """Config and user data are CBOR values: bytes are shown as a short base64 preview."""
    if isinstance(value, bytes):
        head = base64.b64encode(value[:48]).decode()
        return f"<{len(value)} bytes: {head}{'...' if len(value) > 48 else ''}>"
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)
