"""The key check and the gate of every endpoint, on memory streams (no sockets).

Timers (handshake timeout) run under `autojump_clock` with exact virtual-time asserts.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from rain.core.protocol import messages as m
from rain.core.protocol.auth import (
    INSECURE,
    AcceptingHandshake,
    AuthenticationError,
    ConnectingHandshake,
    Credentials,
    HandshakeRefused,
    new_key,
)
from rain.core.protocol.codec import encode
from rain.core.protocol.framing import HEADER
from rain.core.protocol.stream import (
    HANDSHAKE_TIMEOUT,
    PRE_AUTH_MAX_FRAME,
    EndpointLimits,
    Gate,
    MessageStream,
    connect_handshake,
)
from rain.core.protocol.tls import generate_self_signed, server_context

KEY = new_key()
CREDS = Credentials(KEY, origin="key from test")


def pair() -> tuple[MessageStream, MessageStream]:
    a, b = trio.testing.memory_stream_pair()
    return MessageStream(a, "dialer"), MessageStream(b, "listener")


async def run_both(gate: Gate, dialer_creds: Credentials,
                   role: str = "client") -> tuple[str | None, BaseException | None]:
    """Runs both sides of one handshake; returns the gate's answer and the dialer's error."""
    accepting, dialing = pair()
    error: BaseException | None = None
    result: list[str | None] = []

    async def dial() -> None:
        nonlocal error
        try:
            await connect_handshake(dialing, role, dialer_creds)
        except Exception as exc:
            error = exc
            await dialing.aclose()  # as open_message_stream does

    async def accept() -> None:
        result.append(await gate.admit(accepting))
        await accepting.aclose()  # as the connection handlers do after a refusal

    async with trio.open_nursery() as nursery:
        nursery.start_soon(dial)
        nursery.start_soon(accept)
    return result[0], error


async def test_same_key_authenticates_both_ways_and_sets_the_role_limit():
    gate = Gate(("client", "governor"), CREDS, EndpointLimits({"governor": 12345}))
    accepting, dialing = pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(connect_handshake, dialing, "governor", CREDS)
        assert await gate.admit(accepting) == "governor"
    assert accepting.max_frame_size == 12345
    assert not gate.refused


async def test_wrong_key_is_refused_with_a_clear_error_and_counted():
    gate = Gate(("client",), CREDS)
    role, error = await run_both(gate, Credentials(new_key(), origin="key from elsewhere.json"))
    assert role is None
    assert isinstance(error, AuthenticationError)
    assert str(error) == "authentication failed: wrong cluster key (key from elsewhere.json)"
    assert gate.refused == {"authentication": 1}


async def test_no_key_is_refused():
    gate = Gate(("client",), CREDS)
    role, error = await run_both(gate, Credentials(origin="no access file at /x"))
    assert role is None and isinstance(error, AuthenticationError)
    assert str(error) == ("authentication failed: listener requires the cluster key and this side has none "
                          "(no access file at /x)")
    assert gate.refused == {"authentication": 1}


async def test_a_side_with_a_key_refuses_an_insecure_endpoint():
    """Else anyone could collect submitted work by posing as a server started with --insecure."""
    role, error = await run_both(Gate(("client",), INSECURE), CREDS)
    assert role == "client"  # the listener cannot tell; the dialer is the one that refuses
    assert isinstance(error, AuthenticationError)
    assert "does not authenticate (started with --insecure?)" in str(error)


async def test_insecure_both_sides():
    role, error = await run_both(Gate(("client",), INSECURE), INSECURE)
    assert (role, error) == ("client", None)


async def test_endpoint_that_does_not_know_the_key_is_detected():
    """A listener with another key cannot produce a valid proof; the dialer says so (here the
    listener's own check refuses first, so a fake listener answers blindly instead)."""
    accepting, dialing = pair()

    async def fake_listener() -> None:
        hello = await accepting.receive()
        assert isinstance(hello, m.Hello) and hello.nonce is not None
        await accepting.send(m.Hello(m.PROTOCOL_VERSION, "server", b"n" * 32))
        assert isinstance(await accepting.receive(), m.Authenticate)
        await accepting.send(m.Authenticate(b"\0" * 32))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fake_listener)
        with pytest.raises(AuthenticationError, match="did not prove it knows the cluster key"):
            await connect_handshake(dialing, "client", CREDS)


def test_proofs_are_bound_to_nonces_role_and_direction():
    """Sans-IO: a recorded proof does not authenticate another connection, another role, or
    the other side (reflection)."""
    dialer = ConnectingHandshake("client", CREDS, "peer")
    listener = AcceptingHandshake(("client", "governor"), CREDS)
    proof = dialer.on_hello(listener.on_hello(dialer.hello()))
    assert proof is not None
    answer = listener.on_proof(proof)
    dialer.on_proof(answer)  # a valid exchange

    replayed = AcceptingHandshake(("client", "governor"), CREDS)  # a fresh nonce
    replayed.on_hello(dialer.hello())
    with pytest.raises(HandshakeRefused, match="wrong cluster key"):
        replayed.on_proof(proof)

    as_governor = AcceptingHandshake(("client", "governor"), CREDS)
    dialer2 = ConnectingHandshake("governor", CREDS, "peer")
    hello = dialer2.hello()
    reply = as_governor.on_hello(hello)
    dialer2.on_hello(reply)
    forged = ConnectingHandshake("client", CREDS, "peer")
    forged._nonce = hello.nonce  # the same nonces, another role
    forged_proof = forged.on_hello(reply)
    assert forged_proof is not None
    with pytest.raises(HandshakeRefused):
        as_governor.on_proof(forged_proof)

    mirror = ConnectingHandshake("client", CREDS, "peer")  # the listener's proof sent back as a dialer's
    listener2 = AcceptingHandshake(("client",), CREDS)
    proof2 = mirror.on_hello(listener2.on_hello(mirror.hello()))
    assert proof2 is not None
    reflected = listener2.on_proof(proof2)
    listener3 = AcceptingHandshake(("client",), CREDS)
    listener3._nonce = listener2._nonce
    listener3.on_hello(mirror.hello())
    with pytest.raises(HandshakeRefused):
        listener3.on_proof(reflected)


async def test_silent_peer_is_closed_after_the_handshake_timeout(autojump_clock):
    gate = Gate(("client",), CREDS)
    accepting, dialing = pair()
    start = trio.current_time()
    assert await gate.admit(accepting) is None
    assert trio.current_time() - start == HANDSHAKE_TIMEOUT
    assert gate.refused == {"timeout": 1}
    told = await dialing.receive()
    assert isinstance(told, m.Error) and told.message == "authentication failed: no handshake within 10 s"


async def test_peer_stopping_after_its_hello_is_closed_too(autojump_clock):
    gate = Gate(("client",), CREDS, EndpointLimits(handshake_timeout=3))
    accepting, dialing = pair()
    await dialing.send(m.Hello(m.PROTOCOL_VERSION, "client", b"x" * 32))
    start = trio.current_time()
    assert await gate.admit(accepting) is None
    assert trio.current_time() - start == 3
    assert gate.refused == {"timeout": 1}


async def test_cap_on_connections_in_their_handshake(autojump_clock):
    gate = Gate(("client",), CREDS, EndpointLimits(handshake_timeout=5, max_handshakes=2))
    results: list[str | None] = []
    async with trio.open_nursery() as nursery:
        for _ in range(2):  # two silent peers hold both places
            nursery.start_soon(lambda: _admit_into(gate, pair()[0], results))
        await trio.testing.wait_all_tasks_blocked()
        assert gate.pending == 2
        start = trio.current_time()
        assert await gate.admit(pair()[0]) is None  # refused at once, not queued
        assert trio.current_time() == start
        assert gate.refused == {"too_many_handshakes": 1}
    assert results == [None, None] and gate.refused["timeout"] == 2
    role, error = await run_both(gate, CREDS)  # the places are free again
    assert (role, error) == ("client", None)


async def _admit_into(gate: Gate, conn: MessageStream, results: list[str | None]) -> None:
    results.append(await gate.admit(conn))


async def test_frames_are_small_until_authenticated():
    gate = Gate(("client",), CREDS)
    accepting, dialing = pair()
    await dialing.stream.send_all(HEADER.pack(PRE_AUTH_MAX_FRAME + 1))
    assert await gate.admit(accepting) is None
    assert gate.refused == {"protocol": 1}


async def test_garbage_instead_of_a_hello():
    gate = Gate(("client",), CREDS)
    accepting, dialing = pair()
    await dialing.stream.send_all(encode(m.GetServerInfo(1)))
    assert await gate.admit(accepting) is None
    reply = await dialing.receive()
    assert isinstance(reply, m.Error) and reply.message == "expected hello, got get_server_info"


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("tls")
    fingerprint = generate_self_signed(str(d / "c.crt"), str(d / "c.key"))
    return server_context(str(d / "c.crt"), str(d / "c.key")), fingerprint


async def test_tls_with_the_pinned_certificate(tls_pair):
    ctx, fingerprint = tls_pair
    listener = Credentials(KEY, fingerprint, ctx)
    role, error = await run_both(Gate(("client",), listener), Credentials(KEY, fingerprint))
    assert (role, error) == ("client", None)


async def test_tls_with_another_certificate_is_refused(tls_pair):
    ctx, fingerprint = tls_pair
    wrong = "sha256:" + "0" * 64
    role, error = await run_both(Gate(("client",), Credentials(KEY, fingerprint, ctx)), Credentials(KEY, wrong))
    assert role is None
    assert isinstance(error, AuthenticationError) and "is not the cluster's" in str(error)



async def test_refusals_are_all_counted_but_a_flood_is_not_all_logged(autojump_clock, caplog):
    gate = Gate(("client",), CREDS)
    for _ in range(Gate.LOG_BURST + 3):
        accepting, dialing = pair()
        await dialing.stream.send_all(b"\xff" * 8)
        assert await gate.admit(accepting) is None
    lines = [r.getMessage() for r in caplog.records if "refused connection" in r.getMessage()]
    assert len(lines) == Gate.LOG_BURST and gate.refused == {"protocol": Gate.LOG_BURST + 3}
    await trio.sleep(Gate.LOG_INTERVAL)
    accepting, dialing = pair()
    await dialing.stream.send_all(b"\xff" * 8)
    assert await gate.admit(accepting) is None
    last = [r.getMessage() for r in caplog.records if "refused connection" in r.getMessage()][-1]
    assert last.endswith("(after 3 more refusals of this kind not logged)")
