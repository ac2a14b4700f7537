"""Governor data transfers over real loopback sockets: streaming, sharing one transfer.
Both sides hold one cluster key, as governors do."""

from __future__ import annotations

import functools
import os

import pytest
import trio
import trio.testing

from rain.common.attributes import ObjectInfo, ObjectSpec
from rain.common.ids import ID
from rain.core.governor.data_service import handle_data_connection
from rain.core.governor.store import MEMORY_LIMIT, ObjectStore
from rain.core.governor.transfers import PeerConnections, TransferError, Transfers, receive_object
from rain.core.protocol import messages as m
from rain.core.protocol.auth import Credentials, new_key
from rain.core.protocol.stream import Gate, MessageStream, accept_handshake

CREDS = Credentials(new_key())


async def serve_store(nursery: trio.Nursery, store: ObjectStore, counter: list[int]) -> str:
    async def handler(stream: trio.abc.Stream) -> None:
        counter.append(1)
        await handle_data_connection(store, Gate(("governor-data", "client"), CREDS), stream)

    listeners = await nursery.start(functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    return f"127.0.0.1:{listeners[0].socket.getsockname()[1]}"


async def test_two_consumers_share_one_transfer(tmp_path, nursery):
    source = ObjectStore(str(tmp_path / "a"))
    data = os.urandom(3 * 1024 * 1024 + 17)
    spec = ObjectSpec(ID(1, 5), "big")
    source.put_bytes(spec, ObjectInfo(), data)
    connections: list[int] = []
    address = await serve_store(nursery, source, connections)
    target = ObjectStore(str(tmp_path / "b"))
    transfers = Transfers(target, CREDS)
    item = [spec.to_row(), {}, address, None]
    results = []

    async def fetch() -> None:
        results.append(await transfers.ensure(1, item))

    async with trio.open_nursery() as inner:
        inner.start_soon(fetch)
        inner.start_soon(fetch)
    assert len(connections) == 1
    assert results[0] is results[1]
    assert results[0].instance().get_bytes() == data
    assert results[0].path is not None  # big objects are stored as files, not in memory


async def test_directory_transfer(tmp_path, nursery):
    source = ObjectStore(str(tmp_path / "a"))
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f.txt").write_text("hello")
    (tree / "empty").mkdir()
    spec = ObjectSpec(ID(1, 6), "dir", data_type="dir")
    source.put_file(spec, ObjectInfo(), str(tree))
    address = await serve_store(nursery, source, [])
    target = ObjectStore(str(tmp_path / "b"))
    obj = await Transfers(target, CREDS).ensure(1, [spec.to_row(), {}, address, None])
    with open(os.path.join(obj.path, "sub", "f.txt")) as f:
        assert f.read() == "hello"
    assert os.path.isdir(os.path.join(obj.path, "empty"))


async def test_concurrent_transfers_share_a_bounded_pool_of_connections(tmp_path, nursery):
    source = ObjectStore(str(tmp_path / "a"))
    specs = [ObjectSpec(ID(1, i), "") for i in range(1, 41)]
    for spec in specs:
        source.put_bytes(spec, ObjectInfo(), b"x%d" % spec.id.id)
    connections: list[int] = []
    address = await serve_store(nursery, source, connections)
    transfers = Transfers(ObjectStore(str(tmp_path / "b")), CREDS)
    limit = transfers.peers.MAX_PER_PEER

    async def fetch_all(batch: list[ObjectSpec]) -> None:
        async with trio.open_nursery() as inner:
            for spec in batch:
                inner.start_soon(transfers.ensure, 1, [spec.to_row(), {}, address, None])

    await fetch_all(specs[:20])
    assert len(connections) == limit  # 20 at once, but never more connections than the limit
    await fetch_all(specs[20:])
    assert len(connections) == limit  # the second burst reuses them all
    assert [transfers.store.get(s.id).data for s in specs] == [b"x%d" % i for i in range(1, 41)]


async def serve_broken_peer(nursery: trio.Nursery, data_type: str, size: int, data: bytes, then: str) -> str:
    """A data port that announces `size` bytes, sends `data`, then stalls or hangs up."""

    async def handler(stream: trio.abc.Stream) -> None:
        conn = MessageStream(stream, "broken peer")
        await accept_handshake(conn, ("governor-data",), CREDS)
        await conn.receive()
        await conn.send(m.ObjectHeader(data_type, size, {}))
        await conn.send(m.DataChunk(data))
        if then == "stall":
            await trio.sleep_forever()
        await conn.aclose()

    listeners = await nursery.start(functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    return f"127.0.0.1:{listeners[0].socket.getsockname()[1]}"


def leftovers(store: ObjectStore) -> list[str]:
    return sorted(os.listdir(store.tmp_dir) + os.listdir(store.objects_dir))


async def test_cancelled_transfer_leaves_no_partial_file(tmp_path):
    """Cancelled right after the first chunk is on disk (when the receiver asks for more)."""
    store = ObjectStore(str(tmp_path / "b"))
    ours, theirs = trio.testing.memory_stream_pair()
    peer = MessageStream(theirs, "peer")
    await peer.send(m.ObjectHeader("blob", 2 * MEMORY_LIMIT, {}))
    await peer.send(m.DataChunk(b"x" * (MEMORY_LIMIT + 1)))

    with trio.CancelScope() as scope:

        async def cancel_once_written() -> None:
            if any(os.path.getsize(os.path.join(store.tmp_dir, name)) > MEMORY_LIMIT
                   for name in os.listdir(store.tmp_dir)):
                scope.cancel()

        ours.receive_stream.receive_some_hook = cancel_once_written
        await receive_object(MessageStream(ours, "us"), ObjectSpec(ID(1, 5), "big"), store)
    assert scope.cancelled_caught
    assert leftovers(store) == []


async def test_transfer_cut_short_by_the_peer_leaves_no_partial_file(tmp_path, nursery):
    address = await serve_broken_peer(nursery, "blob", 2 * MEMORY_LIMIT, b"x" * (MEMORY_LIMIT + 1), "close")
    store = ObjectStore(str(tmp_path / "b"))
    spec = ObjectSpec(ID(1, 5), "big")
    with pytest.raises(TransferError, match="cannot fetch input"):
        await Transfers(store, CREDS).ensure(1, [spec.to_row(), {}, address, None])
    assert leftovers(store) == []


async def test_directory_transfer_with_a_bad_archive_leaves_nothing(tmp_path, nursery):
    address = await serve_broken_peer(nursery, "dir", 10, b"not a tar!", "close")
    store = ObjectStore(str(tmp_path / "b"))
    spec = ObjectSpec(ID(1, 6), "dir", data_type="dir")
    with pytest.raises(TransferError, match="cannot fetch input"):
        await Transfers(store, CREDS).ensure(1, [spec.to_row(), {}, address, None])
    assert leftovers(store) == []


async def test_transfer_cancelled_before_it_starts_takes_nothing(tmp_path, nursery):
    source = ObjectStore(str(tmp_path / "a"))
    spec = ObjectSpec(ID(1, 5), "x")
    source.put_bytes(spec, ObjectInfo(), b"data")
    connections: list[int] = []
    address = await serve_store(nursery, source, connections)
    target = ObjectStore(str(tmp_path / "b"))
    transfers = Transfers(target, CREDS)
    with trio.CancelScope() as scope:
        scope.cancel()
        await transfers.ensure(1, [spec.to_row(), {}, address, None])
    assert scope.cancelled_caught
    assert connections == [] and transfers._inflight == {} and leftovers(target) == []
    assert (await transfers.ensure(1, [spec.to_row(), {}, address, None])).data == b"data"


async def test_peer_connection_cancelled_before_it_starts_keeps_the_pool(tmp_path, nursery):
    connections: list[int] = []
    address = await serve_store(nursery, ObjectStore(str(tmp_path / "a")), connections)
    peers = PeerConnections(CREDS)
    async with peers.connection(address) as conn:
        first = conn
    with trio.CancelScope() as scope:
        scope.cancel()
        async with peers.connection(address):
            raise AssertionError("a cancelled task got a connection")
    assert scope.cancelled_caught
    async with peers.connection(address) as conn:
        assert conn is first  # still pooled, not closed
    assert connections == [1]
    assert peers._slots[address].value == peers.MAX_PER_PEER
