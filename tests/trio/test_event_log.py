"""The event log never runs SQLite on the event loop: queries and writes happen in worker
threads, each connection under its own lock, so a slow disk or a locked database delays only
the query, never the server."""

from __future__ import annotations

import sqlite3

import pytest
import trio

from rain.core.server.events import ROWS_PER_INSERT, EventLog, EventQuery, QueryError


def session_ids(events: list[dict]) -> list[int]:
    return [e["event"]["session"] for e in events]


async def test_a_locked_database_does_not_stall_the_event_loop(tmp_path):
    log = EventLog(str(tmp_path))
    log.record("SessionNew", {"session": 1})
    await log.flush()
    blocker = sqlite3.connect(tmp_path / "events.db")
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the database
    log.record("SessionNew", {"session": 2})
    loop_alive = trio.Event()
    result: list[dict] = []

    async def heartbeat() -> None:
        for _ in range(5):
            await trio.sleep(0.01)
        loop_alive.set()

    async def query() -> None:
        result.extend(await log.query(EventQuery()))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(query)
            nursery.start_soon(heartbeat)
            await loop_alive.wait()  # the loop ran on while the query waited for the database
            assert result == []
            blocker.rollback()
    assert session_ids(result) == [1, 2]
    blocker.close()
    log.close()


@pytest.mark.parametrize("on_disk", [True, False])
async def test_concurrent_flushes_and_queries_see_whole_prefixes(tmp_path, on_disk):
    log = EventLog(str(tmp_path) if on_disk else None)
    seen: list[list[int]] = []

    async def writer() -> None:
        for session in range(1, 201):
            log.record("SessionNew", {"session": session})
            if session % 7 == 0:
                await log.flush()
            await trio.lowlevel.checkpoint()
        await log.flush()

    async def reader() -> None:
        for _ in range(20):
            seen.append([e["id"] for e in await log.query(EventQuery())])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        nursery.start_soon(reader)
        nursery.start_soon(reader)
    for ids in seen:
        assert ids == list(range(1, len(ids) + 1))  # every query saw every event recorded before it
    final = await log.query(EventQuery.parse({"since": 150, "limit": 10}))
    assert [e["id"] for e in final] == list(range(151, 161)) and session_ids(final) == list(range(151, 161))
    log.close()


def test_query_validation_names_the_problem():
    with pytest.raises(QueryError, match="must be a JSON object, got list"):
        EventQuery.parse([])
    with pytest.raises(QueryError, match=r"'time': invalid value 'now'"):
        EventQuery.parse({"time": [{"value": "now", "mode": ">"}]})
    query = EventQuery.parse({"event_types": [{"value": "TaskFinished"}], "limit": 10**9})
    assert query.limit == 10_000 and query.sql()[1] == [0, "TaskFinished", 10_000]


@pytest.mark.parametrize("on_disk", [True, False])
async def test_a_flush_of_many_events_keeps_their_order_ids_and_fields(tmp_path, on_disk):
    """Events go in by the hundred per INSERT statement; what is read back is what was
    recorded, in order, numbered from 1, whatever the count modulo a statement's rows."""
    log = EventLog(str(tmp_path) if on_disk else None)
    count = 2 * ROWS_PER_INSERT + 7
    for i in range(count):
        log.record("TaskFinished" if i % 3 else "SessionNew", {"session": i, "task": i + 1})
    await log.flush()
    log.record("SessionNew", {"session": count})
    await log.flush()
    events = await log.query(EventQuery())
    assert [e["id"] for e in events] == list(range(1, count + 2))
    assert session_ids(events) == list(range(count + 1))
    assert [e["event"]["type"] for e in events[:4]] == ["SessionNew", "TaskFinished", "TaskFinished", "SessionNew"]
    assert log.written == count + 1
    log.close()


async def test_a_log_made_with_autoincrement_ids_is_written_on(tmp_path):
    """A log dir from an earlier server keeps its table (ids by AUTOINCREMENT) and goes on."""
    old = sqlite3.connect(tmp_path / "events.db")
    old.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, "
                "type TEXT NOT NULL, session INTEGER, event TEXT NOT NULL)")
    old.execute("INSERT INTO events (time, type, session, event) VALUES (0, 'SessionNew', 1, '{\"session\":1}')")
    old.commit()
    old.close()
    log = EventLog(str(tmp_path))
    for session in range(2, ROWS_PER_INSERT + 3):
        log.record("SessionNew", {"session": session})
    await log.flush()
    events = await log.query(EventQuery())
    assert [e["id"] for e in events] == list(range(1, ROWS_PER_INSERT + 3))
    assert session_ids(events) == list(range(1, ROWS_PER_INSERT + 3))
    log.close()
