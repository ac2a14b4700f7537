"""The server's event log: an embedded SQLite database for postmortem analysis.

Events are buffered in memory and written in batches by a background task, in a worker thread,
so a burst of task events never blocks the scheduler on disk writes. Recording only appends a
tuple: turning an event into JSON happens at write time, with one reused encoder, because on
graphs of tiny tasks a per-event `json.dumps` was a tenth of the server's time.

Threads and locks: no SQLite call ever runs on the event loop. Writes run in a worker thread on
the writer connection; queries run in a worker thread on a separate reader connection. With a
log dir the database is in WAL mode, so a query reads the last committed state while a batch is
being written, and neither waits for the other. Each connection has a `threading.Lock`, because
a worker thread may still be finishing a call on it (an abandoned query) when the next begins.
Without a log dir the database lives in memory and both roles share one connection and lock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

import attrs
import trio

FLUSH_PERIOD = 0.5
# Events are inserted this many rows per statement (4 values each, within SQLite's oldest limit
# of 999 per statement): a statement per event cost as much again in binding and stepping.
ROWS_PER_INSERT = 200
_INSERT = "INSERT INTO events (time, type, session, event) VALUES (?, ?, ?, ?)"
_INSERT_MANY = _INSERT[: _INSERT.index("(?")] + ",".join(["(?, ?, ?, ?)"] * ROWS_PER_INSERT)
QUERY_LIMIT = 10_000
STRING_CACHE_SIZE = 10_000
_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))
_FINISHED_KEYS = ("session", "task", "governor", "name", "task_type", "start_time", "duration")
MODES = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
# filter key in a query -> (column, accepted value types)
FILTER_COLUMNS: dict[str, tuple[str, tuple[type, ...]]] = {
    "event_types": ("type", (str,)),
    "session": ("session", (int,)),
    "id": ("id", (int,)),
    "time": ("time", (int, float)),
}


class QueryError(ValueError):
    """A malformed event query; the message names the offending part."""


@attrs.frozen
class EventQuery:
    """A validated `/events` query: SQL conditions, the id to start after and a row limit."""

    where: tuple[str, ...] = ()
    params: tuple[Any, ...] = ()
    since: int = 0
    limit: int = QUERY_LIMIT

    @classmethod
    def parse(cls, filters: Any) -> EventQuery:
        """`{"event_types": [{"value", "mode"}], "session": [...], "id": [...], "time": [...],
        "since": ID, "limit": N}`; every key optional. Raises `QueryError`."""
        if not isinstance(filters, dict):
            raise QueryError(f"the query must be a JSON object, got {type(filters).__name__}")
        unknown = sorted(set(filters) - set(FILTER_COLUMNS) - {"since", "limit"})
        if unknown:
            raise QueryError(f"unknown query keys {unknown}; known: {sorted([*FILTER_COLUMNS, 'since', 'limit'])}")
        where, params = [], []
        for key, (column, types) in FILTER_COLUMNS.items():
            conditions = filters.get(key, [])
            if not isinstance(conditions, list):
                raise QueryError(f"{key!r} must be a list of {{\"value\", \"mode\"}} objects")
            for cond in conditions:
                if not isinstance(cond, dict) or "value" not in cond:
                    raise QueryError(f"{key!r} must be a list of {{\"value\", \"mode\"}} objects, got {cond!r}")
                value, mode = cond["value"], cond.get("mode", "=")
                if not isinstance(value, types) or isinstance(value, bool):
                    raise QueryError(f"{key!r}: invalid value {value!r}")
                if mode not in MODES:
                    raise QueryError(f"{key!r}: invalid filter mode {mode!r}; modes: {' '.join(MODES)}")
                where.append(f"{column} {MODES[mode]} ?")
                params.append(value)
        since = _non_negative_int(filters, "since", 0)
        limit = min(_non_negative_int(filters, "limit", QUERY_LIMIT), QUERY_LIMIT)
        return cls(tuple(where), tuple(params), since, limit)

    def sql(self) -> tuple[str, list[Any]]:
        where = ["id > ?", *self.where]
        return (f"SELECT id, time, event FROM events WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
                [self.since, *self.params, self.limit])


def _non_negative_int(filters: dict[str, Any], key: str, default: int) -> int:
    value = filters.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise QueryError(f"{key!r} must be a non-negative integer, got {value!r}")
    return value


class _Database:
    """One SQLite connection and the lock that every use of it takes (always in a worker thread)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.lock = threading.Lock()


class EventLog:
    def __init__(self, logdir: str | None) -> None:
        if logdir:
            os.makedirs(logdir, exist_ok=True)
            path = os.path.join(logdir, "events.db")
            self._writer = _Database(sqlite3.connect(path, check_same_thread=False))
            self._writer.connection.execute("PRAGMA journal_mode=WAL")
            self._writer.connection.execute("PRAGMA synchronous=NORMAL")  # WAL: safe against crashes
            self._create_table()
            self._reader = _Database(sqlite3.connect(path, check_same_thread=False))
        else:
            self._writer = _Database(sqlite3.connect(":memory:", check_same_thread=False))
            self._create_table()
            self._reader = self._writer
        self._pending: list[tuple[float, str, dict[str, Any]]] = []
        self._flush_lock = trio.Lock()
        self._strings: dict[str | None, str] = {}  # JSON of governor ids, task names and types
        self.written = 0  # events committed to the database so far

    def _create_table(self) -> None:
        db = self._writer.connection
        # A plain INTEGER PRIMARY KEY: rows are never deleted, so ids grow as AUTOINCREMENT's
        # would, without its bookkeeping table, which took a third of each insert (a log made
        # with it keeps it).
        db.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, "
                   "time REAL NOT NULL, type TEXT NOT NULL, session INTEGER, event TEXT NOT NULL)")
        db.execute("CREATE INDEX IF NOT EXISTS events_type ON events(type)")
        db.commit()

    def record(self, kind: str, fields: dict[str, Any]) -> None:
        self._pending.append((time.time(), kind, fields))

    @property
    def lag(self) -> tuple[int, float]:
        """Events recorded but not yet written, and the age in seconds of the oldest of them."""
        pending = self._pending
        return len(pending), (time.time() - pending[0][0]) if pending else 0.0

    def _write(self, events: list[tuple[float, str, dict[str, Any]]]) -> None:
        encode, strings = _encode_event, self._strings
        if len(strings) > STRING_CACHE_SIZE:
            strings.clear()
        values: list[Any] = []
        for t, kind, fields in events:
            values += (t, kind, fields.get("session"), encode(kind, fields, strings))
        whole = len(events) - len(events) % ROWS_PER_INSERT
        step = 4 * ROWS_PER_INSERT
        with self._writer.lock:
            db = self._writer.connection
            if whole:
                db.executemany(_INSERT_MANY, [values[i:i + step] for i in range(0, 4 * whole, step)])
            if whole < len(events):
                db.executemany(_INSERT, [values[i:i + 4] for i in range(4 * whole, len(values), 4)])
            db.commit()
        self.written += len(events)

    async def flush(self) -> None:
        async with self._flush_lock:
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

    async def query(self, query: EventQuery) -> list[dict[str, Any]]:
        """The events matching `query`, including every event recorded before the call."""
        await self.flush()
        return await trio.to_thread.run_sync(self._select, query, abandon_on_cancel=True)

    def _select(self, query: EventQuery) -> list[dict[str, Any]]:
        sql, params = query.sql()
        with self._reader.lock:
            rows = self._reader.connection.execute(sql, params).fetchall()
        return [{"id": i, "time": t, "event": json.loads(e)} for i, t, e in rows]

    def close(self) -> None:
        for db in _unique([self._reader, self._writer]):
            with db.lock:
                db.connection.close()


def _encode_event(kind: str, fields: dict[str, Any], strings: dict[str | None, str]) -> str:
    """The event as a JSON object, `type` first. TaskFinished, one per task, is formatted
    directly: the same text as the generic encoding at under half its cost."""
    if kind == "TaskFinished" and tuple(fields) == _FINISHED_KEYS:
        text = _finished_json(fields, strings)
        if text is not None:
            return text
    return _ENCODER.encode({"type": kind, **fields})


def _finished_json(fields: dict[str, Any], strings: dict[str | None, str]) -> str | None:
    """None unless every value is of the plain kind the format covers (ints, strings, finite
    floats). `strings` caches the JSON of the few distinct governor ids, names and types; it
    holds only str and None keys, so no value of another type can match one."""
    session, task, governor, name, task_type, start_time, duration = fields.values()
    try:
        texts = strings[governor], strings[name], strings[task_type]
    except (KeyError, TypeError):  # TypeError: an unhashable value
        if not all(value is None or type(value) is str for value in (governor, name, task_type)):
            return None
        texts = (_cached_json(governor, strings), _cached_json(name, strings), _cached_json(task_type, strings))
    if (type(session) is not int or type(task) is not int or type(start_time) is not float
            or type(duration) is not float or start_time - start_time != 0.0 or duration - duration != 0.0):
        return None  # NaN and infinities: the encoder's own spelling
    return (f'{{"type":"TaskFinished","session":{session},"task":{task},"governor":{texts[0]},'
            f'"name":{texts[1]},"task_type":{texts[2]},"start_time":{start_time!r},"duration":{duration!r}}}')


def _cached_json(value: str | None, strings: dict[str | None, str]) -> str:
    text = strings.get(value)
    if text is None:
        text = strings[value] = _ENCODER.encode(value)
    return text


def _unique(dbs: Sequence[_Database]) -> list[_Database]:
    return list({id(db): db for db in dbs}.values())
