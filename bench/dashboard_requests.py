"""Server CPU per monitoring request, against the counters of a 1,000,000-task session.

    cd bench && ../.venv/bin/python dashboard_requests.py

In-process (no sockets, no HTTP parsing): a `Monitor` is fed the events of a million finished
tasks, then each request the dashboard repeats is timed with one more task event before it,
so every overview has a changed session to report. Also prints the counters' cost per task
event, which a server pays whether or not anyone looks.
"""

from __future__ import annotations

import os
import sys
import time

import trio

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rain.core.server.api import MonitoringApi
from rain.core.server.events import EventLog
from rain.core.server.http import Request
from rain.core.server.monitor import Monitor
from rain.core.server.server import Server

TASKS = 1_000_000


def finished(task: int) -> dict:
    return {"session": 2, "task": task, "governor": "127.0.0.1:40000", "task_type": "buildin/concat",
            "start_time": 1795683075.0 + task * 1e-4, "duration": 1.7e-5}


def per_event_us(record) -> float:
    events = [finished(i) for i in range(200_000)]
    start = time.process_time()
    for fields in events:
        record("TaskFinished", fields)
    return (time.process_time() - start) / len(events) * 1e6


def request(path: str) -> Request:
    base, _, query = path.partition("?")
    return Request("GET", base, dict(p.split("=") for p in query.split("&")) if query else {}, b"", "bench")


async def time_requests(monitor: Monitor, api: MonitoringApi) -> None:
    version, behind = monitor.current_version(), monitor.stream_seq - 13_000
    for name, path in [("overview (one session changed)", f"/api/overview?since={version}"),
                       ("stream, the newest 1,000 records", f"/api/stream?since={behind}&limit=1000"),
                       ("session counters", "/api/sessions/2"), ("metrics", "/metrics")]:
        n = 200
        start = time.process_time()
        for _ in range(n):
            monitor.record("TaskFinished", finished(1))
            response = await api(request(path))
        print(f"{name}: {(time.process_time() - start) / n * 1000:.2f} ms CPU, {len(response.body):,} bytes")


def main() -> None:
    log_only = EventLog(None)
    monitor = Monitor(EventLog(None))
    monitor.record("SessionNew", {"session": 2, "name": "million"})
    print(f"per task event: event log alone {per_event_us(log_only.record):.2f} us, "
          f"counters + event log {per_event_us(monitor.record):.2f} us")
    monitor = Monitor()
    server = Server(events=monitor)
    monitor.record("SessionNew", {"session": 2, "name": "million"})
    monitor.record("TasksSubmitted", {"session": 2, "task_types": {"buildin/concat": TASKS}})
    for task in range(TASKS):
        monitor.record("TaskFinished", finished(task))
    trio.run(time_requests, monitor, MonitoringApi(server, monitor))


if __name__ == "__main__":
    main()
