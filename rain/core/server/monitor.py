"""What the dashboard, `/metrics` and client progress read: counters kept as events happen.

The server reports every event through `Monitor.record` (its `events` hook), which updates the
counters and then hands the event to the SQLite log. Nothing here is ever recomputed from the
graph: a poll reads counters, and only what changed since the poller's last version.

Changes are versioned: every change bumps `version` and moves the changed session (or task
type) to the end of its ordered dict, so "what changed since version V" is read from the end
backwards and stops at the first entry not newer than V, whatever the number of entries.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from rain.core.server.events import EventLog

STREAM_LENGTH = 20_000  # recent task records kept for the task stream
CLOSED_SESSIONS_KEPT = 50


@attrs.define(eq=False)
class TypeCounts:
    """Tasks of one type: submitted, finished, failed; durations of the finished ones."""

    submitted: int = 0
    finished: int = 0
    failed: int = 0
    duration_sum: float = 0.0
    duration_max: float = 0.0
    version: int = 0

    def view(self) -> dict[str, Any]:
        mean = self.duration_sum / self.finished if self.finished else None
        return {"submitted": self.submitted, "finished": self.finished, "failed": self.failed,
                "mean_duration": mean, "max_duration": self.duration_max if self.finished else None}


@attrs.define(eq=False)
class SessionCounts:
    id: int
    name: str
    created: float
    types: dict[str, TypeCounts] = attrs.Factory(dict)
    submitted: int = 0
    finished: int = 0
    failed: int = 0
    error: str | None = None
    failed_task: int | None = None
    closed: str | None = None  # the reason, once closed
    version: int = 0

    def type_counts(self, task_type: str) -> TypeCounts:
        counts = self.types.get(task_type)
        if counts is None:
            counts = self.types[task_type] = TypeCounts()
        return counts

    def view(self) -> dict[str, Any]:
        status = "failed" if self.error else ("closed" if self.closed else
                                               ("running" if self.finished < self.submitted else "idle"))
        return {"session_id": self.id, "name": self.name, "created": self.created, "status": status,
                "submitted": self.submitted, "finished": self.finished, "failed": self.failed,
                "error": self.error, "failed_task": self.failed_task, "closed": self.closed,
                "types": {name: c.view() for name, c in sorted(self.types.items())}, "version": self.version}


class Monitor:
    """Counters by session, task type and governor, and a ring of recent task records."""

    def __init__(self, log: EventLog | None = None, clock: Callable[[], float] = time.time) -> None:
        self.log = log
        self.clock = clock
        self.version = 0
        self.sessions: OrderedDict[int, SessionCounts] = OrderedDict()
        self.task_types: OrderedDict[str, TypeCounts] = OrderedDict()
        self.governor_stats: dict[str, dict[str, Any]] = {}
        # (seq, governor, task_type, session, task, start_time, duration, failed)
        self.stream: deque[tuple[Any, ...]] = deque(maxlen=STREAM_LENGTH)
        self.stream_seq = 0
        self._closed: deque[int] = deque()
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "SessionNew": self._session_new,
            "TasksSubmitted": self._tasks_submitted,
            "TaskFinished": self._task_finished,
            "TaskFailed": self._task_failed,
            "SessionFailed": self._session_failed,
            "SessionClosed": self._session_closed,
            "GovernorLost": self._governor_lost,
        }

    def record(self, kind: str, fields: dict[str, Any]) -> None:
        """The server's event hook; governor samples update counters only, the rest is logged."""
        if kind == "GovernorStats":
            self.governor_stats[fields["governor"]] = fields
            return
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(fields)
        if self.log is not None:
            self.log.record(kind, fields)

    # --- event handlers ---------------------------------------------------------------------

    def _touch_session(self, session: SessionCounts) -> None:
        self.version += 1
        session.version = self.version
        self.sessions.move_to_end(session.id)

    def _touch_type(self, task_type: str) -> TypeCounts:
        self.version += 1
        counts = self.task_types.get(task_type)
        if counts is None:
            counts = self.task_types[task_type] = TypeCounts()
        else:
            self.task_types.move_to_end(task_type)
        counts.version = self.version
        return counts

    def _session_new(self, fields: dict[str, Any]) -> None:
        session = SessionCounts(fields["session"], fields.get("name") or "", self.clock())
        self.sessions[session.id] = session
        self._touch_session(session)

    def _tasks_submitted(self, fields: dict[str, Any]) -> None:
        session = self.sessions.get(fields["session"])
        if session is None:
            return
        self._touch_session(session)
        for task_type, count in fields["task_types"].items():
            session.type_counts(task_type).submitted += count
            session.submitted += count
            self._touch_type(task_type).submitted += count

    def _task_done(self, fields: dict[str, Any], failed: bool) -> None:
        session = self.sessions.get(fields["session"])
        task_type = fields.get("task_type") or "?"
        duration = fields.get("duration") or 0.0
        if session is not None:
            self._touch_session(session)
            counts = session.type_counts(task_type)
            if failed:
                counts.failed += 1
                session.failed += 1
            else:
                counts.finished += 1
                session.finished += 1
                counts.duration_sum += duration
                counts.duration_max = max(counts.duration_max, duration)
        totals = self._touch_type(task_type)
        if failed:
            totals.failed += 1
        else:
            totals.finished += 1
            totals.duration_sum += duration
            totals.duration_max = max(totals.duration_max, duration)
        self.stream_seq += 1
        self.stream.append((self.stream_seq, fields.get("governor"), task_type, fields["session"],
                            fields.get("task"), fields.get("start_time"), duration, failed))

    def _task_finished(self, fields: dict[str, Any]) -> None:
        self._task_done(fields, False)

    def _task_failed(self, fields: dict[str, Any]) -> None:
        self._task_done(fields, True)

    def _session_failed(self, fields: dict[str, Any]) -> None:
        session = self.sessions.get(fields["session"])
        if session is not None:
            session.error = fields.get("message") or "failed"
            session.failed_task = fields.get("task")
            self._touch_session(session)

    def _session_closed(self, fields: dict[str, Any]) -> None:
        session = self.sessions.get(fields["session"])
        if session is None:
            return
        session.closed = fields.get("reason") or "closed"
        self._touch_session(session)
        self._closed.append(session.id)
        while len(self._closed) > CLOSED_SESSIONS_KEPT:
            self.sessions.pop(self._closed.popleft(), None)

    def _governor_lost(self, fields: dict[str, Any]) -> None:
        self.governor_stats.pop(fields["governor"], None)

    # --- reading ----------------------------------------------------------------------------

    def sessions_since(self, version: int) -> list[dict[str, Any]]:
        """Sessions changed after `version`, newest change first."""
        return [s.view() for s in _newer(self.sessions, version)]

    def types_since(self, version: int) -> dict[str, dict[str, Any]]:
        return {name: counts.view() for name, counts in _newer_items(self.task_types, version)}

    def stream_since(self, seq: int, limit: int) -> list[tuple[Any, ...]]:
        """Up to `limit` of the newest task records after `seq`, oldest first."""
        new = min(self.stream_seq - seq, len(self.stream), limit)
        if new <= 0:
            return []
        stream = self.stream
        return [stream[i] for i in range(len(stream) - new, len(stream))]

    def session_counts(self, session_id: int) -> SessionCounts | None:
        return self.sessions.get(session_id)


def _newer(entries: OrderedDict[Any, Any], version: int) -> Iterator[Any]:
    for entry in reversed(entries.values()):
        if entry.version <= version:
            return
        yield entry


def _newer_items(entries: OrderedDict[str, TypeCounts], version: int) -> Iterator[tuple[str, TypeCounts]]:
    for name in reversed(entries):
        counts = entries[name]
        if counts.version <= version:
            return
        yield name, counts
