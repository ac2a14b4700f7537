"""The monitoring port as users and scripts meet it: bad requests get a 400 and cost nothing
else, connections are kept alive, and the port listens on loopback unless told otherwise."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from rain.client import blob, tasks
from tests.cluster import Cluster


def request(cluster: Cluster, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", cluster.http_port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Authorization": f"Bearer {cluster.http_token()}"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def assert_server_serves(cluster: Cluster) -> None:
    """The server still answers on both ports."""
    status, info = request(cluster, "GET", "/api/info")
    assert status == 200 and [g["governor_id"] for g in info["governors"]] == cluster.governor_ids
    with cluster.client().new_session() as s:
        t = tasks.Concat([blob(b"still "), blob(b"alive")])
        t.output.keep()
        s.submit()
        assert t.output.fetch().get_bytes() == b"still alive"


@pytest.mark.parametrize("body,message", [
    (b"[]", "the query must be a JSON object, got list"),
    (b"{nope", "the request body is not valid JSON"),
    (b'{"event_types": "SessionNew"}', "'event_types' must be a list"),
    (b'{"event_types": [{"value": "x", "mode": "LIKE"}]}', "invalid filter mode 'LIKE'"),
    (b'{"session": [{"value": "1"}]}', "'session': invalid value '1'"),
    (b'{"limit": -5}', "'limit' must be a non-negative integer"),
    (b'{"since": "x"}', "'since' must be a non-negative integer"),
    (b'{"sessions": []}', "unknown query keys ['sessions']"),
])
def test_bad_event_query_is_a_400_and_the_server_lives_on(cluster, body, message):
    status, reply = request(cluster, "POST", "/events", body)
    assert status == 400
    assert message in reply["error"]
    assert_server_serves(cluster)


def test_bad_query_parameter_is_a_400(cluster):
    status, reply = request(cluster, "GET", "/events?since=yesterday")
    assert status == 400 and reply["error"] == "parameter 'since' must be an integer, got 'yesterday'"
    status, reply = request(cluster, "GET", "/nothing/here")
    assert status == 404 and "no such endpoint: GET /nothing/here" in reply["error"]


def test_garbage_closes_only_that_connection(cluster):
    with socket.create_connection(("127.0.0.1", cluster.http_port), timeout=10) as sock:
        sock.sendall(b"\x00\xffnot http at all\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert_server_serves(cluster)


def test_connection_closed_mid_request_costs_nothing(cluster):
    with socket.create_connection(("127.0.0.1", cluster.http_port), timeout=10) as sock:
        sock.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"li")
    assert_server_serves(cluster)


def test_keep_alive_serves_several_requests_on_one_connection(cluster):
    conn = http.client.HTTPConnection("127.0.0.1", cluster.http_port, timeout=10)
    token = {"Authorization": f"Bearer {cluster.http_token()}"}
    try:
        for _ in range(3):
            conn.request("GET", "/api/info", headers=token)
            response = conn.getresponse()
            assert response.status == 200
            json.loads(response.read())
        sock = conn.sock
        conn.request("POST", "/events", body=b'{"limit": 1}', headers=token)
        response = conn.getresponse()
        assert response.status == 200 and len(json.loads(response.read())) == 1
        assert conn.sock is sock  # the same TCP connection served every request
    finally:
        conn.close()


def test_events_since_and_limit_page_through_the_log(cluster):
    with cluster.client().new_session() as s:
        for _ in range(5):
            tasks.Concat([blob(b"a")])
        s.submit()
        s.wait_all()
    status, first = request(cluster, "GET", "/events?limit=3")
    assert status == 200 and [e["id"] for e in first] == [1, 2, 3]
    status, rest = request(cluster, "POST", "/events", json.dumps({"since": 3}).encode())
    assert [e["id"] for e in rest] == list(range(4, 4 + len(rest)))
    finished = [e for e in first + rest if e["event"]["type"] == "TaskFinished"]
    assert len(finished) == 5
    status, typed = request(cluster, "GET", f"/events?type=TaskFinished&since={finished[1]['id']}")
    assert [e["id"] for e in typed] == [e["id"] for e in finished[2:]]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the listening TCP sockets on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            for line in f.readlines()[1:]:
                local, _remote, state = line.split()[1:4]
                address, port_hex = local.split(":")
                if state == "0A" and int(port_hex, 16) == port:
                    found.add(address)
    return found


def test_http_port_listens_on_loopback_by_default(tmp_path):
    cluster = Cluster(str(tmp_path))
    try:
        cluster.start_server("--http-listen", "0")  # the last --http-listen wins
        assert _listening_addresses(cluster.http_port) == {"0100007F"}  # 127.0.0.1
    finally:
        cluster.close()
