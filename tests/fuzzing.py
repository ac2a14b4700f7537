"""A structure-aware fuzzer for Rain endpoints, shared by the test suite and bench/fuzz.py.

Inputs are built with hypothesis: mostly well-formed frames of real message kinds whose fields
are plausible or mutated (wrong types, huge integers, deep nesting, odd strings), sometimes
broken frames (truncated, oversized header, flipped bytes, raw garbage), sent either before the
handshake or after a valid one. Targets are live processes: the server port as a client and as
a governor, and a governor's data port. After each input the fuzzer closes its side and expects
the process to close the connection (otherwise: a hang), then checks that a normal client is
still served (otherwise: a crash if the process died, else a hang).
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import attrs
import cbor2
from hypothesis import strategies as st

from rain.client import Client, blob, tasks
from rain.client.connection import Connection
from rain.common.errors import RainException
from rain.core.access import find_credentials
from rain.core.protocol import messages as m
from rain.core.protocol.framing import HEADER
from tests.cluster import Cluster

HANG_TIMEOUT = 10.0
KINDS = sorted(m.MESSAGE_TYPES)

# --- values --------------------------------------------------------------------------------------

# (base, exponent) pairs: hypothesis prints its strategies, and ints over 4300 digits cannot be
huge_ints = st.sampled_from([(2, 63), (2, 64), (-2, 65), (2, 200), (-2, 1001), (10, 4000), (10, 5000),
                             (-2, 60001)]).map(lambda pair: pair[0] ** pair[1])
small_ints = st.integers(-3, 100)
scalars = st.one_of(st.none(), st.booleans(), small_ints, st.integers(), huge_ints,
                    st.floats(allow_nan=True), st.text(max_size=20), st.binary(max_size=40),
                    st.sampled_from(["client", "governor", "blob", "dir", "buildin/concat", "../../etc/passwd",
                                     "text", "pickle", "", "\x00", "🌧"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.one_of(st.text(max_size=8), small_ints), inner, max_size=5)),
    max_leaves=10)
ids = st.one_of(st.lists(small_ints, min_size=2, max_size=2), values)
object_rows = st.lists(st.one_of(
    st.tuples(small_ints, st.one_of(st.none(), st.text(max_size=5)), st.sampled_from([None, "text", "bogus"]),
              st.sampled_from(["blob", "dir", "x"]), st.none(), st.booleans(),
              st.one_of(st.none(), st.binary(max_size=9)), st.one_of(st.none(), small_ints)).map(list),
    values), max_size=4)
task_rows = st.lists(st.one_of(
    st.tuples(small_ints, st.sampled_from(["buildin/concat", "buildin/sleep", "buildin/run", "nope"]), values,
              st.lists(st.one_of(small_ints, st.text(max_size=3)), max_size=4), st.lists(small_ints, max_size=3),
              st.one_of(small_ints, st.dictionaries(st.just("cpus"), small_ints), values),
              st.one_of(st.none(), st.text(max_size=5)), st.one_of(st.none(), values)).map(list),
    values), max_size=4)

PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "request_id": small_ints, "session_id": small_ints, "version": st.just(m.PROTOCOL_VERSION),
    "role": st.sampled_from(["client", "governor", "governor-data"]), "nonce": st.binary(min_size=32, max_size=32),
    "proof": st.binary(min_size=32, max_size=32), "ids": st.lists(ids, max_size=5), "id": ids,
    "name": st.text(max_size=10), "tasks": task_rows, "objects": object_rows, "all": st.booleans(),
    "cpus": small_ints, "data_address": st.sampled_from(["127.0.0.1:1", "x", ":", "[::1]:99999"]),
    "task_types": st.lists(st.sampled_from(["buildin/concat", "x"]), max_size=3),
    "finished": st.lists(values, max_size=3), "failed": st.lists(values, max_size=3),
}


@st.composite
def message_bodies(draw: st.DrawFn) -> dict[Any, Any]:
    """A message map of a real kind: each field plausible or mutated; sometimes a field is
    dropped, an unknown one added, or the type changed."""
    kind = draw(st.sampled_from(KINDS))
    body: dict[Any, Any] = {"type": kind}
    for field in sorted(m.MESSAGE_TYPES[kind].fields):
        choice = draw(st.integers(0, 9))
        if choice == 0:
            continue
        body[field] = draw(values if choice < 3 else PLAUSIBLE.get(field, values))
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.one_of(st.text(max_size=5), small_ints))] = draw(values)
    if draw(st.integers(0, 19)) == 0:
        body["type"] = draw(values)
    return body


def deep(depth: int, opener: bytes) -> bytes:
    return opener * depth + b"\x00"


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """One frame, usually well formed, sometimes broken in one of several ways."""
    way = draw(st.integers(0, 19))
    if way == 0:
        return draw(st.binary(max_size=64))  # raw garbage
    if way == 1:  # deep nesting of arrays or maps, small in bytes
        return struct.pack(">I", 0) if draw(st.booleans()) else _frame(deep(draw(st.integers(100, 50_000)),
                                                                        draw(st.sampled_from([b"\x81", b"\xa1\x00"]))))
    if way == 2:  # a header announcing far more than follows (or than allowed)
        return HEADER.pack(draw(st.sampled_from([2**31, 2**32 - 1, 64 * 1024 + 1, 10**9]))) + b"\xa0"
    if way == 3:  # a CBOR item declaring a huge length
        return _frame(draw(st.sampled_from([b"\x9b" + b"\xff" * 8, b"\xbb" + b"\x7f" * 8, b"\x5b" + b"\x00\xff" * 4])))
    if way == 4:  # not a map, or tags and odd simple values
        return _frame(cbor2.dumps(draw(values), default=str))
    payload = _dumps(draw(message_bodies()))
    if way == 5 and payload:  # truncated
        return _frame(payload)[: draw(st.integers(1, len(payload) + 3))]
    if way == 6 and payload:  # one byte flipped
        i = draw(st.integers(0, len(payload) - 1))
        payload = payload[:i] + bytes([payload[i] ^ draw(st.integers(1, 255))]) + payload[i + 1 :]
    return _frame(payload)


def _dumps(body: dict[Any, Any]) -> bytes:
    try:
        return cbor2.dumps(body)
    except (ValueError, TypeError, OverflowError):
        return cbor2.dumps({"type": "ok"})


def _frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


@attrs.frozen
class FuzzInput:
    after_handshake: bool
    new_session: bool  # after the handshake, open a session first and aim messages at it
    frames: tuple[bytes, ...]


inputs = st.builds(FuzzInput, st.booleans(), st.booleans(), st.lists(frames(), min_size=1, max_size=4).map(tuple))


# --- targets ---------------------------------------------------------------------------------------


@attrs.define
class Target:
    """One endpoint of a live cluster: where to connect, as which role, and how to check that
    the process still serves normal clients: `healthy(fresh)` asks on a connection kept open
    across inputs, or (`fresh`) on a new one, handshake included."""

    name: str
    role: str
    cluster: Cluster
    address: Callable[[], tuple[str, int]]
    process: Callable[[], Any]
    healthy: Callable[[bool], None]


def make_targets(cluster: Cluster) -> dict[str, Target]:
    kept: dict[str, Connection] = {}

    def server() -> tuple[str, int]:
        return "127.0.0.1", int(cluster.port or 0)

    def data_port() -> tuple[str, int]:
        host, port = cluster.governor_ids[0].rsplit(":", 1)
        return host, int(port)

    def server_process() -> Any:
        return cluster.server_process

    def governor_process() -> Any:
        return cluster.governor_processes[cluster.governor_ids[0]]

    def connection(name: str, address: tuple[str, int], role: str, fresh: bool) -> Connection:
        conn = kept.pop(name, None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = Connection(*address, find_credentials(cluster.access_file, 0), role=role)
            conn._sock.settimeout(HANG_TIMEOUT)
        return conn

    def server_healthy(fresh: bool) -> None:
        conn = connection("server", server(), "client", fresh)
        conn.request(m.GetServerInfo)
        kept["server"] = conn

    def data_port_healthy(fresh: bool) -> None:
        conn = connection("data", data_port(), "governor-data", fresh)
        conn.send(m.FetchObject([10**6, 1]))
        if not isinstance(conn.receive(), m.Error):
            raise RainException("unexpected answer to a fetch of an unknown object")
        kept["data"] = conn

    return {
        "server/client": Target("server/client", "client", cluster, server, server_process, server_healthy),
        "server/governor": Target("server/governor", "governor", cluster, server, server_process, server_healthy),
        "data-port": Target("data-port", "governor-data", cluster, data_port, governor_process, data_port_healthy),
    }


def full_check(cluster: Cluster) -> None:
    """A real task end to end: the scheduler, a governor and a fetch all still work."""
    with Client("127.0.0.1", cluster.port, access_file=cluster.access_file) as client, client.new_session() as s:
        t = tasks.Concat([blob(b"ok"), blob(b"!")])
        t.output.keep()
        s.submit()
        assert t.output.fetch().get_bytes() == b"ok!"


class Outcome:
    OK = "ok"
    HANG = "hang"  # the endpoint did not close our connection, or did not answer the health check
    CRASH = "crash"  # the process is gone


def send_input(target: Target, item: FuzzInput, fresh_check: bool = True) -> str:
    """Plays one input against the target; the outcome. `fresh_check`: check health on a new
    connection (else on the one kept open, which is much cheaper)."""
    host, port = target.address()
    opened = _open(target, host, port, item)
    if opened is None:
        return _health(target, fresh_check)
    sock, frames = opened
    try:
        sock.settimeout(HANG_TIMEOUT)
        try:
            for frame in frames:
                sock.sendall(frame)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the endpoint closed early: fine, that is what bad input deserves
        deadline = time.monotonic() + HANG_TIMEOUT
        try:
            while sock.recv(1 << 20):
                if time.monotonic() > deadline:
                    return _hang_or_crash(target)
        except TimeoutError:
            return _hang_or_crash(target)
        except OSError:
            pass  # reset: closed
    finally:
        sock.close()
    return _health(target, fresh_check)


def _open(target: Target, host: str, port: int, item: FuzzInput) -> tuple[socket.socket, tuple[bytes, ...]] | None:
    """A socket ready for the input's frames (after a handshake and a new session if asked)."""
    if not item.after_handshake:
        try:
            return socket.create_connection((host, port), timeout=HANG_TIMEOUT), item.frames
        except OSError:
            return None
    try:
        conn = Connection(host, port, find_credentials(target.cluster.access_file, 0), role=target.role)
    except RainException:
        return None
    conn._sock.settimeout(HANG_TIMEOUT)
    frames = item.frames
    if item.new_session and target.role == "client":
        try:
            session_id = conn.request(m.NewSession, name="fuzz").value  # type: ignore[attr-defined]
        except RainException:
            conn.close()
            return None
        frames = tuple(_aim(frame, session_id) for frame in frames)
    return conn._sock, frames


def _aim(frame: bytes, session_id: int) -> bytes:
    """Points a well-formed message at the fuzzer's own session, to get past the session check."""
    try:
        body = cbor2.loads(frame[HEADER.size :])
    except Exception:
        return frame
    if isinstance(body, dict) and "session_id" in body:
        body["session_id"] = session_id
        return _frame(_dumps(body))
    return frame


def _health(target: Target, fresh: bool) -> str:
    try:
        target.healthy(fresh)
    except RainException:
        return _hang_or_crash(target)
    return Outcome.OK


def _hang_or_crash(target: Target) -> str:
    return Outcome.CRASH if target.process().poll() is not None else Outcome.HANG

