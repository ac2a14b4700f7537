"""The server's event log: an embedded SQLite database for postmortem analysis.

Events are buffered in memory and written in batches by a background task, in a worker thread,
so a burst of task events never blocks the scheduler on disk writes. Recording only appends a
tuple: turning an event into JSON happens at write time, with one reused encoder, because on
graphs of tiny tasks a per-event `json.dumps` was a tenth of the server's time.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any

import trio

FLUSH_PERIOD = 0.5
QUERY_LIMIT = 10_000
_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))
MODES = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class EventLog:
    def __init__(self, logdir: str | None) -> None:
        path = os.path.join(logdir, "events.db") if logdir else ":memory:"
        if logdir:
            os.makedirs(logdir, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "time REAL NOT NULL, type TEXT NOT NULL, session INTEGER, event TEXT NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS events_type ON events(type)")
        self._db.commit()
        self._pending: list[tuple[float, str, dict[str, Any]]] = []
        self._lock = trio.Lock()

    def record(self, kind: str, fields: dict[str, Any]) -> None:
        self._pending.append((time.time(), kind, fields))

    def _write(self, events: list[tuple[float, str, dict[str, Any]]]) -> None:
        encode = _ENCODER.encode
        rows = [(t, kind, fields.get("session"), encode({"type": kind, **fields})) for t, kind, fields in events]
        self._db.executemany("INSERT INTO events (time, type, session, event) VALUES (?, ?, ?, ?)", rows)
        self._db.commit()

    async def flush(self) -> None:
        async with self._lock:
            rows, self._pending = self._pending, []
            if rows:
                await trio.to_thread.run_sync(self._write, rows)

    async def serve(self) -> None:
        try:
            while True:
                await trio.sleep(FLUSH_PERIOD)
                await self.flush()
        finally:
            with trio.CancelScope(shield=True):
                await self.flush()

    def query(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        """Events matching `{"event_types": [{"value", "mode"}], "session": [...], "id": [...]}`."""
        if self._pending:
            self._write(self._pending)
            self._pending = []
        where, params = [], []
        for column, key in (("type", "event_types"), ("session", "session"), ("id", "id"), ("time", "time")):
            for cond in filters.get(key, ()):
                mode = MODES.get(cond.get("mode", "="))
                if mode is None:
                    raise ValueError(f"invalid filter mode {cond.get('mode')!r}")
                where.append(f"{column} {mode} ?")
                params.append(cond["value"])
        sql = "SELECT id, time, event FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        limit = min(int(filters.get("limit", QUERY_LIMIT)), QUERY_LIMIT)
        sql += f" ORDER BY id LIMIT {limit}"
        return [{"id": i, "time": t, "event": json.loads(e)} for i, t, e in self._db.execute(sql, params)]

    def close(self) -> None:
        self._db.close()
