"""Governor data transfers over real loopback sockets: streaming, sharing one transfer.
Both sides hold one cluster key, as governors do."""

from __future__ import annotations

import functools
import os

import trio

from rain.common.attributes import ObjectInfo, ObjectSpec
from rain.common.ids import ID
from rain.core.governor.data_service import handle_data_connection
from rain.core.governor.store import ObjectStore
from rain.core.governor.transfers import Transfers
from rain.core.protocol.auth import Credentials, new_key
from rain.core.protocol.stream import Gate

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
