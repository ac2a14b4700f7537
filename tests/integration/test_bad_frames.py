"""Garbage on the wire closes only the offending connection; everyone else keeps being served."""

from __future__ import annotations

import socket

import cbor2
import pytest

from rain.client import blob, tasks
from rain.core.protocol import messages as m
from rain.core.protocol.codec import encode
from rain.core.protocol.framing import HEADER, MAX_FRAME_SIZE

BAD_PAYLOADS = {
    "garbage": b"\x00\x00\x00\x05\xff\xfe\xfd\xfc\xfb",
    "oversized": HEADER.pack(MAX_FRAME_SIZE + 1),
    "unknown message": encode(m.Ok(1)).replace(b"ok", b"zz"),
    "not a map": HEADER.pack(3) + cbor2.dumps([1, 2]),
    "bad hello role": encode(m.Hello(m.PROTOCOL_VERSION, "nobody")),
    "bad hello version": encode(m.Hello(999, "client")),
    "request before hello": encode(m.GetServerInfo(1)),
}


def _send_and_expect_close(address: tuple[str, int], payload: bytes, extra: bytes = b"") -> None:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(extra + payload)
        sock.settimeout(10)
        received = b""
        while chunk := sock.recv(65536):  # the peer closes: recv returns b""
            received += chunk
        assert len(received) < 10_000


def _still_works(cluster) -> None:
    client = cluster.client()
    with client.new_session() as s:
        t = tasks.Concat([blob(b"a"), blob(b"b")])
        t.output.keep()
        s.submit()
        assert t.output.fetch().get_bytes() == b"ab"


@pytest.mark.parametrize("name", sorted(BAD_PAYLOADS))
def test_bad_frames_to_server(cluster, name):
    client = cluster.client()  # connected before the garbage, must survive it
    _send_and_expect_close(("127.0.0.1", cluster.port), BAD_PAYLOADS[name])
    assert client.get_server_info()["governors"]
    _still_works(cluster)


def test_bad_frame_after_hello_to_server(cluster):
    hello = encode(m.Hello(m.PROTOCOL_VERSION, "client"))
    _send_and_expect_close(("127.0.0.1", cluster.port), BAD_PAYLOADS["garbage"], extra=hello)
    _still_works(cluster)


@pytest.mark.parametrize("name", ["garbage", "oversized", "unknown message", "bad hello role"])
def test_bad_frames_to_governor(cluster, name):
    host, port = cluster.governor_ids[0].rsplit(":", 1)
    _send_and_expect_close((host, int(port)), BAD_PAYLOADS[name])
    hello = encode(m.Hello(m.PROTOCOL_VERSION, "governor-data"))
    _send_and_expect_close((host, int(port)), BAD_PAYLOADS["garbage"], extra=hello)
    _still_works(cluster)
    assert cluster.client().get_server_info()["governors"][0]["governor_id"] == cluster.governor_ids[0]
