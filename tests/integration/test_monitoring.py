"""Monitoring: the event log over HTTP, the JSON info endpoint and the dashboard page."""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.request

import pytest

from rain.client import TaskException, blob, tasks


def http(cluster, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{cluster.http_port}{path}", data=data,
                                     headers={"Authorization": f"Bearer {cluster.http_token()}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return r.headers.get("Content-Type"), r.read()


def test_events_and_info_over_http(cluster):
    client = cluster.client()
    with client.new_session("watched") as s:
        t = tasks.Concat([blob(b"a"), blob(b"b")], name="joiner")
        s.submit()
        s.wait_all()
        session_id = s.session_id
    kind, body = http(cluster, "/events", {"event_types": [{"value": "SessionNew", "mode": "="}]})
    assert kind == "application/json"
    events = json.loads(body)
    assert [e["event"]["session"] for e in events] == [session_id]
    assert events[0]["event"]["type"] == "SessionNew" and events[0]["event"]["name"] == "watched"
    finished = json.loads(http(cluster, "/events", {"event_types": [{"value": "TaskFinished", "mode": "="}]})[1])
    assert [(e["event"]["task"], e["event"]["name"]) for e in finished] == [(t.id.id, "joiner")]
    assert finished[0]["event"]["governor"] == cluster.governor_ids[0]
    info = json.loads(http(cluster, "/api/info")[1])
    assert [g["governor_id"] for g in info["governors"]] == cluster.governor_ids
    kind, page = http(cluster, "/")
    assert kind.startswith("text/html") and b"Rain" in page
    # the same events are in the SQLite database in the log dir
    db = sqlite3.connect(os.path.join(cluster.tmp, "logs", "events.db"))
    types = {row[0] for row in db.execute("SELECT type FROM events")}
    assert {"SessionNew", "TaskFinished", "SessionClosed", "GovernorNew", "ClientNew"} <= types


def test_bad_event_query_is_a_client_error(cluster):
    import urllib.error

    try:
        http(cluster, "/events", {"event_types": [{"value": "x", "mode": "LIKE"}]})
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
    else:
        raise AssertionError("expected HTTP 400")


def test_metrics_count_what_the_client_did(make_cluster):
    from tests.cluster import wait_until

    cluster = make_cluster([1, 1])
    with cluster.client().new_session() as s:
        for _ in range(3):
            tasks.Concat([blob(b"a"), blob(b"b")])
        s.submit()
        s.wait_all()  # the failing program below fails the session: these must be finished first
        tasks.Execute("exit 1", shell=True)
        s.submit()
        with pytest.raises(TaskException):
            s.wait_all()

    def metrics() -> str:
        return http(cluster, "/metrics")[1].decode()

    kind, _ = http(cluster, "/metrics")
    assert kind.startswith("text/plain; version=0.0.4")
    text = metrics()
    assert 'rain_tasks_submitted_total{task_type="buildin/concat"} 3' in text
    assert 'rain_tasks_finished_total{task_type="buildin/concat"} 3' in text
    assert 'rain_tasks_failed_total{task_type="buildin/run"} 1' in text
    assert "rain_governors 2\n" in text and "rain_cpus 2\n" in text and "rain_cpus_busy 0\n" in text
    # governors sample their node and store once a second
    wait_until(lambda: metrics().count("rain_governor_memory_total_bytes{") == 2, 10, "governor samples")
    assert metrics().count("rain_stored_bytes{governor=") == 2


def test_program_output_tails_reach_the_task_inspector(cluster):
    """The inspector shows the end of a program's stdout and stderr, bounded; the program's
    directory holds only its inputs (stdout and stderr are not files in it)."""
    client = cluster.client()
    script = "ls -A; seq 1 3000; echo oops >&2"
    with client.new_session() as s:
        t = tasks.Execute(script, shell=True, stdout=True)
        t.output.keep()
        s.submit()
        out = t.output.fetch().get_bytes().decode()
        detail = json.loads(http(cluster, f"/api/sessions/{s.session_id}/tasks/{t.id.id}")[1])
    assert out.splitlines()[0] == "1"  # nothing listed by `ls -A`
    tails = detail["output_tails"]
    assert tails["stderr"] == "oops"
    assert tails["stdout"].endswith("2999\n3000") and len(tails["stdout"]) <= 1000
