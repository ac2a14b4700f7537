"""`/metrics`: the server's counters in the Prometheus text exposition format (version 0.0.4).

Everything is read from counters kept as events happen (`Monitor`) and from per-governor
records, so a scrape costs O(task types + governors), whatever the size of the graphs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rain.core.server.views import ready_count

if TYPE_CHECKING:
    from rain.core.server.monitor import Monitor
    from rain.core.server.server import Server

Sample = tuple[dict[str, str], float | int | None]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        if value is None:
            continue
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")
    return lines


def render_metrics(server: Server, monitor: Monitor) -> str:
    types = sorted(monitor.task_types.items())
    governors = list(server.governors.values())
    stats: dict[str, dict[str, Any]] = {g.id: monitor.governor_stats.get(g.id, {}) for g in governors}
    pending, lag = monitor.log.lag if monitor.log is not None else (0, 0.0)

    def by_type(attribute: str) -> list[Sample]:
        return [({"task_type": name}, getattr(counts, attribute)) for name, counts in types]

    def by_governor(key: str) -> list[Sample]:
        return [({"governor": gid}, values.get(key)) for gid, values in stats.items()]

    families: list[tuple[str, str, str, list[Sample]]] = [
        ("rain_tasks_submitted_total", "counter", "Tasks submitted, by task type.", by_type("submitted")),
        ("rain_tasks_finished_total", "counter", "Tasks finished, by task type.", by_type("finished")),
        ("rain_tasks_failed_total", "counter", "Tasks failed, by task type.", by_type("failed")),
        ("rain_task_duration_seconds_sum", "counter", "Total duration of finished tasks, by task type.",
         by_type("duration_sum")),
        ("rain_ready_tasks", "gauge", "Tasks ready to run and waiting for a governor.",
         [({}, ready_count(server))]),
        ("rain_sessions", "gauge", "Open sessions.", [({}, len(server.sessions))]),
        ("rain_governors", "gauge", "Connected governors.", [({}, len(governors))]),
        ("rain_cpus", "gauge", "CPUs of the connected governors.", [({}, sum(g.cpus for g in governors))]),
        ("rain_cpus_busy", "gauge", "CPUs taken by assigned tasks.",
         [({}, sum(g.cpus - max(g.free_cpus, 0) for g in governors))]),
        ("rain_governor_cpu_percent", "gauge", "CPU use of each governor's node, in percent of its CPUs.",
         by_governor("cpu_percent")),
        ("rain_governor_memory_used_bytes", "gauge", "Memory in use on each governor's node.",
         by_governor("memory_used")),
        ("rain_governor_memory_total_bytes", "gauge", "Memory of each governor's node.",
         by_governor("memory_total")),
        ("rain_stored_bytes", "gauge", "Bytes of data objects held by each governor.", by_governor("stored_bytes")),
        ("rain_stored_objects", "gauge", "Data objects held by each governor.", by_governor("objects")),
        ("rain_transferred_bytes_total", "counter",
         "Bytes each governor fetched from other governors since it started.", by_governor("received_bytes")),
        ("rain_event_log_pending_events", "gauge", "Events recorded but not yet written to the event log.",
         [({}, pending)]),
        ("rain_event_log_lag_seconds", "gauge", "Age of the oldest event not yet written to the event log.",
         [({}, round(lag, 3))]),
    ]
    lines: list[str] = []
    for family in families:
        lines += _family(*family)
    return "\n".join(lines) + "\n"
