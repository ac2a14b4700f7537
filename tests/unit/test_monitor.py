"""Monitoring counters: kept as events arrive, read by version so a poll costs what changed."""

from __future__ import annotations

from rain.core.server.metrics import render_metrics
from rain.core.server.monitor import CLOSED_SESSIONS_KEPT, Monitor
from rain.core.server.server import Server


def finished(monitor: Monitor, session: int, task: int, task_type: str, duration: float, failed: bool = False) -> None:
    monitor.record("TaskFailed" if failed else "TaskFinished",
                   {"session": session, "task": task, "governor": "g1", "task_type": task_type,
                    "start_time": 100.0 + task, "duration": duration})


def test_counters_by_session_and_task_type():
    monitor = Monitor(clock=lambda: 5.0)
    monitor.record("SessionNew", {"session": 1, "name": "one"})
    monitor.record("TasksSubmitted", {"session": 1, "task_types": {"a": 3, "b": 1}})
    finished(monitor, 1, 1, "a", 0.5)
    finished(monitor, 1, 2, "a", 1.5)
    finished(monitor, 1, 3, "b", 2.0, failed=True)
    monitor.record("SessionFailed", {"session": 1, "message": "boom", "task": 3})
    [session] = monitor.sessions_since(0)
    assert (session["submitted"], session["finished"], session["failed"], session["status"]) == (4, 2, 1, "failed")
    assert session["types"]["a"] == {"submitted": 3, "finished": 2, "failed": 0, "mean_duration": 1.0,
                                     "max_duration": 1.5}
    assert session["error"] == "boom" and session["failed_task"] == 3
    assert monitor.types_since(0)["b"] == {"submitted": 1, "finished": 0, "failed": 1, "mean_duration": None,
                                           "max_duration": None}


def test_since_returns_only_what_changed():
    monitor = Monitor()
    for sid in (1, 2, 3):
        monitor.record("SessionNew", {"session": sid, "name": f"s{sid}"})
        monitor.record("TasksSubmitted", {"session": sid, "task_types": {f"t{sid}": 1}})
    seen = monitor.current_version()
    assert monitor.sessions_since(seen) == [] and monitor.types_since(seen) == {}
    finished(monitor, 2, 1, "t2", 0.1)
    assert [s["session_id"] for s in monitor.sessions_since(seen)] == [2]
    assert list(monitor.types_since(seen)) == ["t2"]
    assert [s["session_id"] for s in monitor.sessions_since(0)] == [2, 3, 1]  # newest change first


def test_stream_gives_the_newest_records_after_since():
    monitor = Monitor()
    for task in range(1, 11):
        finished(monitor, 1, task, "a", 0.1)
    assert [r[0] for r in monitor.stream_since(7, 100)] == [8, 9, 10]
    assert [r[0] for r in monitor.stream_since(0, 2)] == [9, 10]
    assert monitor.stream_since(10, 5) == []


def test_closed_sessions_are_forgotten_after_a_while():
    monitor = Monitor()
    for sid in range(1, CLOSED_SESSIONS_KEPT + 6):
        monitor.record("SessionNew", {"session": sid, "name": ""})
        monitor.record("SessionClosed", {"session": sid, "reason": "closed"})
    assert len(monitor.sessions) == CLOSED_SESSIONS_KEPT and 1 not in monitor.sessions


def test_metrics_are_prometheus_text():
    monitor = Monitor()
    server = Server(events=monitor)
    monitor.record("SessionNew", {"session": 1, "name": ""})
    monitor.record("TasksSubmitted", {"session": 1, "task_types": {'odd"type': 2}})
    finished(monitor, 1, 1, 'odd"type', 0.25)
    text = render_metrics(server, monitor)
    assert 'rain_tasks_submitted_total{task_type="odd\\"type"} 2\n' in text
    assert 'rain_tasks_finished_total{task_type="odd\\"type"} 1\n' in text
    assert "# TYPE rain_ready_tasks gauge\nrain_ready_tasks 0\n" in text
    assert "rain_governors 0\n" in text and "rain_event_log_pending_events 0\n" in text
    for line in text.splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2
