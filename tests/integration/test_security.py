"""Nobody without the cluster's key runs work or reads data: every endpoint, real processes.

Each test has its own HOME (tests/conftest.py), so access files found by the default rule
(~/.rain/access-PORT.json) are the test's own.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from rain.client import Client, RainException, blob, tasks
from rain.core.access import default_path, load, prepare_server_access
from rain.core.protocol import messages as m
from rain.core.protocol.codec import decode, encode
from rain.core.protocol.framing import FrameReader
from tests.cluster import stop_process, wait_for_file, wait_until


def other_key_file(tmp_path) -> str:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "other.json")
    prepare_server_access(path)
    return path


def raw_exchange(address: tuple[str, int], payload: bytes, timeout: float = 10) -> list[m.Message]:
    """Sends bytes on a plain socket, reads until the peer closes; the frames it sent."""
    reader = FrameReader()
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(payload)
        while chunk := sock.recv(65536):
            reader.feed(chunk)
    frames = []
    while (frame := reader.next_frame()) is not None:
        frames.append(decode(frame))
    return frames


def data_address(cluster) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    host, port = cluster.governor_ids[0].rsplit(":", 1)
    return host, int(port)


def run_concat(client: Client) -> bytes:
    with client.new_session() as s:
        t = tasks.Concat([blob(b"still "), blob(b"served")])
        t.output.keep()
        s.submit()
        return t.output.fetch().get_bytes()


# --- server port, as a client ----------------------------------------------------------------


def test_client_without_key_or_with_a_wrong_key_is_refused(cluster, tmp_path):
    with pytest.raises(RainException, match=r"^authentication failed: the rain server at 127.0.0.1:\d+ requires "
                                            r"the cluster key and this side has none \(no access file at "):
        Client("127.0.0.1", cluster.port)
    with pytest.raises(RainException, match=r"^authentication failed: wrong cluster key \(key from .*other.json\)"):
        Client("127.0.0.1", cluster.port, access_file=other_key_file(tmp_path))
    # a hand-made hello without a nonce is told why, then closed
    [reply] = raw_exchange(("127.0.0.1", cluster.port), encode(m.Hello(m.PROTOCOL_VERSION, "client")))
    assert isinstance(reply, m.Error) and reply.message.startswith("authentication failed: this endpoint requires")
    info = cluster.client().get_server_info()
    assert info["refused_connections"] == {"authentication": 3}
    assert run_concat(cluster.client()) == b"still served"
    with open(os.path.join(cluster.tmp, "logs", "server.log")) as f:
        log = f.read()
    assert "refused connection from 127.0.0.1:" in log and "wrong cluster key" in log


def test_rain_info_authenticates(cluster, tmp_path):
    def info(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rain", "info", cluster.address, *args],
                              capture_output=True, text=True, timeout=30)

    refused = info("--access-file", other_key_file(tmp_path))
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("rain: error: authentication failed: wrong cluster key")
    table = info("--access-file", cluster.access_file)
    assert table.returncode == 0 and cluster.governor_ids[0] in table.stdout
    assert "refused connections: 1 (authentication 1)" in table.stdout


# --- server port, as a governor --------------------------------------------------------------


def test_governor_with_a_wrong_key_or_none_is_refused(cluster, tmp_path):
    wrong = cluster.spawn_governor(1, "--access-file", other_key_file(tmp_path))
    assert wrong.wait(30) == 2
    insecure = cluster.spawn_governor(1, "--insecure")
    assert insecure.wait(30) == 2
    out = cluster.logs()
    assert "rain: error: authentication failed: wrong cluster key (key from" in out
    assert f"rain: error: authentication failed: {cluster.address} requires the cluster key and this side has " \
           "none (--insecure)" in out
    assert "Traceback" not in out
    assert [g["governor_id"] for g in cluster.client().get_server_info()["governors"]] == cluster.governor_ids


# --- governor data ports ---------------------------------------------------------------------


def test_data_port_refuses_clients_and_peers_without_the_key(cluster, tmp_path):
    from rain.client.connection import Connection
    from rain.core.access import find_credentials

    host, port = data_address(cluster)
    for role in ("client", "governor-data"):
        with pytest.raises(RainException, match="authentication failed: wrong cluster key"):
            Connection(host, port, find_credentials(other_key_file(tmp_path), 0), role=role, what="governor")
        with pytest.raises(RainException, match="authentication failed: the governor at .* requires the cluster key"):
            Connection(host, port, find_credentials(False, 0), role=role, what="governor")
    # nothing is served before the handshake: a bare fetch gets an error, never data
    frames = raw_exchange((host, port), encode(m.FetchObject([1, 1])))
    assert [type(f) for f in frames] == [m.Error] and frames[0].message == "expected hello, got fetch_object"
    good = Connection(host, port, find_credentials(cluster.access_file, 0), role="client", what="governor")
    good.send(m.FetchObject([99, 1]))
    reply = good.receive()
    assert isinstance(reply, m.Error) and "not on this governor" in reply.message
    good.close()


# --- HTTP --------------------------------------------------------------------------------------


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_dashboard_and_api_need_the_token(cluster):
    base = f"http://127.0.0.1:{cluster.http_port}"
    token = cluster.http_token()
    status, _headers, body = http_get(f"{base}/api/info")
    assert status == 401 and b"authentication required" in body
    assert http_get(f"{base}/?token={'0' * 64}")[0] == 401
    status, headers, page = http_get(f"{base}/?token={token}")
    assert status == 200 and b"Rain" in page
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"rain_token={token};") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    status, _headers, body = http_get(f"{base}/api/info", {"Cookie": cookie.split(";")[0]})
    assert status == 200 and json.loads(body)["governors"]
    assert http_get(f"{base}/api/info", {"Authorization": f"Bearer {token}"})[0] == 200


# --- limits ------------------------------------------------------------------------------------


def test_handshake_timeout_and_cap_on_pending_handshakes(make_cluster):
    cluster = make_cluster([1], server_args=("--handshake-timeout", "1", "--max-handshakes", "2"))
    address = ("127.0.0.1", cluster.port)
    silent = [socket.create_connection(address, timeout=10) for _ in range(2)]
    try:
        wait_until(lambda: _refused_now(address), what="a third connection refused at once")
        for sock in silent:  # told, then closed by the server (a hang would hit the socket's timeout)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            [told] = _frames(data)
            assert isinstance(told, m.Error) and told.message == "authentication failed: no handshake within 1 s"
    finally:
        for sock in silent:
            sock.close()
    refused = cluster.client().get_server_info()["refused_connections"]
    assert refused["timeout"] == 2 and refused["too_many_handshakes"] >= 1


def _refused_now(address: tuple[str, int]) -> bool:
    with socket.create_connection(address, timeout=10) as sock:
        sock.settimeout(0.5)
        try:
            return sock.recv(1) == b""
        except TimeoutError:
            return False  # still in the handshake: the first two were not counted yet


def _frames(data: bytes) -> list[m.Message]:
    reader = FrameReader()
    reader.feed(data)
    frames = []
    while (frame := reader.next_frame()) is not None:
        frames.append(decode(frame))
    return frames


def test_submit_limits_and_client_frame_limit(make_cluster):
    cluster = make_cluster([1], server_args=("--max-submit-tasks", "3", "--max-submit-bytes", "4K",
                                             "--max-frame", "client=64K"))
    client = cluster.client()
    with client.new_session() as s:
        for _ in range(4):
            tasks.Concat([blob(b"x")])
        s.submit()  # pipelined: its error is raised by the session's next call
        with pytest.raises(RainException, match=r"^submit\(\) at \S+test_security.py:\d+ of 4 tasks and 8 objects "
                                                r"to session \d+ was refused: submit refused: 4 tasks in one submit, "
                                                r"more than this server accepts \(3, rain server --max-submit-tasks\)"):
            s.wait_all()
    with client.new_session() as s:
        tasks.Concat([blob(b"x" * 5000)])
        s.submit()
        with pytest.raises(RainException, match=r"was refused: submit refused: the submit is [\d,]+ bytes, more "
                                                r"than this server accepts \(4,096, rain server --max-submit-bytes\)"):
            s.wait_all()
    assert run_concat(client) == b"still served"  # the same connection goes on
    with client.new_session() as s:
        tasks.Concat([blob(b"x" * 100_000)])
        s.submit()  # above the frame limit: the connection is closed
        with pytest.raises(RainException):
            s.wait_all()
    assert run_concat(cluster.client()) == b"still served"


# --- TLS ---------------------------------------------------------------------------------------


def test_tls_end_to_end_with_a_peer_transfer(make_cluster):
    cluster = make_cluster([1, 1], server_args=("--tls",))
    access = load(cluster.access_file)
    assert access.tls is not None and access.tls.fingerprint.startswith("sha256:")
    client = cluster.client()
    data = [os.urandom(2 * 1024 * 1024), os.urandom(300 * 1024)]
    with client.new_session() as s:
        producers = [tasks.Sleep(tasks.Concat([blob(d)]), 0.3) for d in data]
        joined = tasks.Concat(producers)
        joined.output.keep()
        s.submit()
        assert joined.output.fetch().get_bytes() == data[0] + data[1]  # streamed from a data port
        s.update([*producers, joined])
        assert producers[0].info.governor != producers[1].info.governor
    assert cluster.logs().count("fetched object") == 1  # one governor fetched from the other
    # plain text is refused on every port
    for address in [("127.0.0.1", cluster.port), data_address(cluster)]:
        assert b"rain" not in _plain_hello_answer(address)
    status, _headers, _body = _https_get(f"https://127.0.0.1:{cluster.http_port}/?token={cluster.http_token()}")
    assert status == 200


def _plain_hello_answer(address: tuple[str, int]) -> bytes:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(encode(m.Hello(m.PROTOCOL_VERSION, "client", b"n" * 32)))
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
        return data


def _https_get(url: str) -> tuple[int, dict[str, str], bytes]:
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(url, timeout=10, context=ctx) as r:
        return r.status, dict(r.headers), r.read()


def test_tls_client_pins_the_certificate(make_cluster, tmp_path):
    cluster = make_cluster([1], server_args=("--tls",))
    wildcard = cluster.start_governor(1, "--listen", "0")  # its address is read under the TLS layer
    assert wildcard.startswith("127.0.0.1:")
    with open(cluster.access_file) as f:
        forged = json.load(f)
    forged["tls"]["fingerprint"] = "sha256:" + "ab" * 32
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    path.chmod(0o600)
    with pytest.raises(RainException, match="authentication failed: the TLS certificate of .* is not the cluster's"):
        Client("127.0.0.1", cluster.port, access_file=str(path))


# --- zero-effort local use and the explicit opt-out --------------------------------------------


def rain_start(tmp_path, *args: str) -> tuple[subprocess.Popen[bytes], dict]:
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-m", "rain", "start", "--simple", "--listen", "127.0.0.1:0",
                             "--http-listen", "127.0.0.1:0", "--ready-file", str(ready), "--cpus", "1",
                             "--logdir", str(tmp_path / "logs"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    return proc, wait_for_file(str(ready), proc)


def test_rain_04_style_client_works_unchanged_with_rain_start(tmp_path):
    proc, info = rain_start(tmp_path)
    try:
        path = default_path(info["port"])
        assert info["access_file"] == path
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        with Client("localhost", info["port"]) as client:  # no key argument: found for this port
            assert run_concat(client) == b"still served"
    finally:
        stop_process(proc)
    out = proc.stdout.read().decode()  # type: ignore[union-attr]
    assert f"dashboard: http://127.0.0.1:{info['http_port']}/?token=" in out


def test_insecure_is_explicit_warned_about_and_not_downgradable(tmp_path):
    proc, info = rain_start(tmp_path, "--insecure")
    try:
        assert info["access_file"] is None and not os.path.exists(default_path(info["port"]))
        with Client("localhost", info["port"]) as client:
            assert run_concat(client) == b"still served"
        prepare_server_access(default_path(info["port"]))  # a client holding a key ...
        with pytest.raises(RainException, match=r"does not authenticate \(started with --insecure\?\)"):
            Client("localhost", info["port"])  # ... will not talk to a server that cannot prove it
        with Client("localhost", info["port"], access_file=False) as client:
            assert client.get_server_info()["governors"]
    finally:
        stop_process(proc)
    err = proc.stderr.read().decode()  # type: ignore[union-attr]
    assert "--insecure: authentication is OFF" in err
