"""What the dashboard, `/metrics` and client progress read: counters kept as events happen.

The server reports every event through `Monitor.record` (its `events` hook), which updates the
counters and then hands the event to the SQLite log. Nothing here is ever recomputed from the
graph: a poll reads counters, and only what changed since the poller's last version.

Changes are versioned, cheaply: an event only adds its session and task type to a set of
dirty entries. A reader first publishes them (`_publish`: one version bump, each dirty entry
stamped with it and moved to the end of its ordered dict), so "what changed since version V" is
read from the end backwards and stops at the first entry not newer than V, whatever the number
of entries. The task stream keeps the event's own field dicts; rows are built when read.
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
        self.stream: deque[dict[str, Any]] = deque(maxlen=STREAM_LENGTH)  # TaskFinished/TaskFailed fields
        self.stream_seq = 0  # the number of task records ever added
        self._dirty_sessions: set[int] = set()
        self._dirty_types: set[str] = set()
        self._closed: deque[int] = deque()
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "SessionNew": self._session_new,
            "TasksSubmitted": self._tasks_submitted,
            "TaskFailed": self._task_failed,
            "SessionFailed": self._session_failed,
            "SessionClosed": self._session_closed,
            "GovernorLost": self._governor_lost,
            "ObjectRecomputed": self._task_unfinished,
        }

    def record(self, kind: str, fields: dict[str, Any]) -> None:
        """The server's event hook; governor samples update counters only, the rest is logged."""
        if kind == "TaskFinished":  # the one event per task: no table lookup, no flag
            self._task_finished(fields)
        elif kind == "GovernorStats":
            self.governor_stats[fields["governor"]] = fields
            return
        else:
            handler = self._handlers.get(kind)
            if handler is not None:
                handler(fields)
        if self.log is not None:
            self.log.record(kind, fields)

    # --- event handlers ---------------------------------------------------------------------

    def _touch_session(self, session: SessionCounts) -> None:
        self._dirty_sessions.add(session.id)

    def _touch_type(self, task_type: str) -> TypeCounts:
        counts = self.task_types.get(task_type)
        if counts is None:
            counts = self.task_types[task_type] = TypeCounts()
        self._dirty_types.add(task_type)
        return counts

    def _publish(self) -> None:
        """Stamps the entries changed since the last read with a new version."""
        if not self._dirty_sessions and not self._dirty_types:
            return
        self.version += 1
        for sid in self._dirty_sessions:
            session = self.sessions.get(sid)
            if session is not None:
                session.version = self.version
                self.sessions.move_to_end(sid)
        for name in self._dirty_types:
            self.task_types[name].version = self.version
            self.task_types.move_to_end(name)
        self._dirty_sessions.clear()
        self._dirty_types.clear()

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

    def _task_finished(self, fields: dict[str, Any]) -> None:
        """The hot path: once per task of every session."""
        task_type = fields.get("task_type") or "?"
        duration = fields.get("duration") or 0.0
        sid = fields["session"]
        session = self.sessions.get(sid)
        if session is not None:
            self._dirty_sessions.add(sid)
            counts = session.types.get(task_type) or session.type_counts(task_type)
            counts.finished += 1
            session.finished += 1
            counts.duration_sum += duration
            if duration > counts.duration_max:
                counts.duration_max = duration
        totals = self.task_types.get(task_type) or self._touch_type(task_type)
        self._dirty_types.add(task_type)
        totals.finished += 1
        totals.duration_sum += duration
        if duration > totals.duration_max:
            totals.duration_max = duration
        self.stream_seq += 1
        self.stream.append(fields)

    def _task_failed(self, fields: dict[str, Any]) -> None:
        task_type = fields.get("task_type") or "?"
        session = self.sessions.get(fields["session"])
        if session is not None:
            self._dirty_sessions.add(session.id)
            (session.types.get(task_type) or session.type_counts(task_type)).failed += 1
            session.failed += 1
        (self.task_types.get(task_type) or self._touch_type(task_type)).failed += 1
        self._dirty_types.add(task_type)
        self.stream_seq += 1
        self.stream.append(fields)

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

    def _task_unfinished(self, fields: dict[str, Any]) -> None:
        """A finished task runs again (to recompute a lost object): it is not finished any more."""
        session = self.sessions.get(fields["session"])
        if session is None:
            return
        counts = session.types.get(fields.get("task_type") or "?")
        if counts is not None and counts.finished > 0:
            counts.finished -= 1
        session.finished = max(0, session.finished - 1)
        self._touch_session(session)

    def _governor_lost(self, fields: dict[str, Any]) -> None:
        self.governor_stats.pop(fields["governor"], None)

    # --- reading ----------------------------------------------------------------------------

    def current_version(self) -> int:
        self._publish()
        return self.version

    def sessions_since(self, version: int) -> list[dict[str, Any]]:
        """Sessions changed after `version`, newest change first."""
        self._publish()
        return [s.view() for s in _newer(self.sessions, version)]

    def types_since(self, version: int) -> dict[str, dict[str, Any]]:
        self._publish()
        return {name: counts.view() for name, counts in _newer_items(self.task_types, version)}

    def stream_since(self, seq: int, limit: int) -> list[list[Any]]:
        """Up to `limit` of the newest task records after `seq`, oldest first:
        [seq, governor, task type, session, task, start time, duration, failed]."""
        stream = self.stream
        new = min(self.stream_seq - seq, len(stream), limit)
        if new <= 0:
            return []
        first_seq = self.stream_seq - new + 1
        rows = []
        for offset, i in enumerate(range(len(stream) - new, len(stream))):
            f = stream[i]
            start, duration = f.get("start_time"), f.get("duration") or 0.0
            rows.append([first_seq + offset, f.get("governor"), f.get("task_type") or "?", f["session"], f.get("task"),
                         round(start, 4) if start is not None else None, round(duration, 6), "error" in f])
        return rows

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
