"""Brings a task's inputs into the local store: inline constants, or streamed from a peer.

Two tasks needing one remote object share a single transfer: the first starts it, the others
wait for its completion event. A failed transfer fails only the tasks that needed it.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import trio

from rain.common.attributes import ObjectInfo, ObjectSpec
from rain.common.dirtar import remove_tree, unpack_directory
from rain.common.ids import ID, make_id
from rain.common.rows import OBJECT_ID, ObjectRow, SentInput
from rain.core.governor.store import MEMORY_LIMIT, ObjectStore, StoredObject
from rain.core.protocol import messages as m
from rain.core.protocol.auth import INSECURE, Credentials
from rain.core.protocol.framing import ProtocolError
from rain.core.protocol.stream import MessageStream, open_message_stream
from rain.plugins.api import TaskError

logger = logging.getLogger(__name__)


SENT_OBJECT = SentInput._fields.index("object")
SENT_DATA = SentInput._fields.index("data")


class TransferError(TaskError):
    """An input could not be fetched. `source`: the governor it was fetched from, when that
    is what failed (the server then runs the task again once it knows whether that governor
    is lost)."""

    def __init__(self, message: str, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


async def receive_object(conn: MessageStream, spec: ObjectSpec, store: ObjectStore) -> StoredObject:
    """Asks a peer's data port for one object and stores it as it streams in.

    A big object goes through temporary files; whatever ends the transfer early (the peer,
    a bad archive, cancellation) removes them, so a governor's work dir holds only objects."""
    await conn.send(m.FetchObject(list(spec.id)))
    header = await conn.receive()
    if isinstance(header, m.RawObject):
        return await receive_raw_object(conn, spec, store, header)
    if header is None or isinstance(header, m.Error) or not isinstance(header, m.ObjectHeader):
        raise ProtocolError(f"expected object_header, got {header.kind if header else 'the end of the stream'}"
                            + (f": {header.message}" if isinstance(header, m.Error) else ""))
    info = ObjectInfo.from_wire(header.info)
    if header.size <= MEMORY_LIMIT and spec.data_type == "blob":
        parts = []
        received = 0
        while received < header.size:
            chunk = await conn.receive_expected(m.DataChunk)
            parts.append(chunk.data)
            received += len(chunk.data)
        return store.put_bytes(spec, info, b"".join(parts))
    async def write_chunks(path: str) -> None:
        received = 0
        async with await trio.open_file(path, "wb") as f:
            while received < header.size:
                chunk = await conn.receive_expected(m.DataChunk)
                await f.write(chunk.data)
                received += len(chunk.data)

    return await store_through_file(store, spec, info, write_chunks)


async def receive_raw_object(conn: MessageStream, spec: ObjectSpec, store: ObjectStore,
                             header: m.RawObject) -> StoredObject:
    """The unframed bytes after a `RawObject`: into memory when small, else written to a file as
    they arrive, from one preallocated buffer and without a thread hop per piece (writes land
    in the page cache)."""
    info = ObjectInfo.from_wire(header.info)
    if header.size <= MEMORY_LIMIT and spec.data_type == "blob":
        parts: list[bytes] = []
        await conn.receive_raw(header.size, lambda view: parts.append(bytes(view)))
        return store.put_bytes(spec, info, b"".join(parts))
    async def write_raw(path: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            await conn.receive_raw(header.size, functools.partial(write_all, fd))
        finally:
            os.close(fd)

    return await store_through_file(store, spec, info, write_raw)


async def store_through_file(store: ObjectStore, spec: ObjectSpec, info: ObjectInfo,
                             receive: Callable[[str], Awaitable[None]]) -> StoredObject:
    """Stores what `receive` writes into a temporary file (a directory arrives as its archive
    and is unpacked). Whatever ends the transfer early removes the temporary files."""
    path = store.temp_path("recv")
    tree = None
    try:
        await receive(path)
        if spec.data_type != "dir":
            return store.put_file(spec, info, path)
        tree = store.temp_path("tree")
        with open(path, "rb") as archive:
            await trio.to_thread.run_sync(unpack_directory, archive, tree)
        return store.put_file(spec, info, tree)
    finally:  # moved into the store by now, unless the transfer failed
        remove_tree(path)
        if tree is not None:
            remove_tree(tree)


def write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


class PeerConnections:
    """Data connections to peers, reused so a transfer costs a round trip, not a handshake.

    At most `MAX_PER_PEER` transfers from one peer run at once; more wait for a connection to
    come back instead of opening new ones (tasks queued ahead start dozens of small transfers
    together, and opening and dropping a connection for each was most of a governor's time on
    graphs that cross governors). A connection is borrowed for one whole transfer; one that
    fails (or is cancelled midway) is closed instead of returned, so a half-read stream is never
    reused.
    """

    MAX_PER_PEER = 8

    def __init__(self, credentials: Credentials = INSECURE) -> None:
        self.credentials = credentials
        self._idle: dict[str, list[MessageStream]] = {}
        self._slots: dict[str, trio.Semaphore] = {}

    @asynccontextmanager
    async def connection(self, address: str, reuse: bool = True) -> AsyncIterator[MessageStream]:
        slots = self._slots.get(address)
        if slots is None:
            slots = self._slots[address] = trio.Semaphore(self.MAX_PER_PEER)
            self._idle[address] = []
        async with slots:
            idle = self._idle[address]
            if not reuse:  # the caller found a pooled connection stale: so may the rest be
                for stale in idle:
                    await stale.aclose()
                idle.clear()
            conn = idle.pop() if idle else await open_message_stream(address, "governor-data", self.credentials)
            try:
                yield conn
            except BaseException:
                await conn.aclose()
                raise
            idle.append(conn)


def input_id(item: int | SentInput) -> int:
    """The object id of an assigned task's input record."""
    return item if isinstance(item, int) else ObjectRow(*SentInput(*item).object).id


class Transfers:
    """`on_stored` hears of every input stored here (fetched, or sent with its data), so the
    governor's state machine can keep its inventory and delete what a dropped session left."""

    def __init__(self, store: ObjectStore, credentials: Credentials = INSECURE,
                 on_stored: Callable[[StoredObject], None] | None = None) -> None:
        self.store = store
        self.peers = PeerConnections(credentials)
        self._inflight: dict[Any, trio.Event] = {}
        self._on_stored = on_stored
        self._reading: dict[str, set[trio.CancelScope]] = {}  # transfers in progress, by peer
        self.epoch = 0  # counts the server's `PeerLost` messages
        self._lost: dict[str, int] = {}  # peer -> the epoch it was declared lost in

    def peer_lost(self, address: str) -> None:
        """The server declared this peer lost: transfers from it stop now, and so will the later
        ones of tasks assigned before this (a frozen peer would keep them waiting forever).
        Tasks assigned afterwards may fetch from a new governor at the same address."""
        self.epoch += 1
        self._lost[address] = self.epoch
        for scope in self._reading.get(address, ()):
            scope.cancel()

    def _stored(self, obj: StoredObject) -> StoredObject:
        if self._on_stored is not None:
            self._on_stored(obj)
        return obj

    def _present(self, session_id: int, item: int | SentInput) -> StoredObject | None:
        """The input if it is stored here or came with its data (stored now); None otherwise."""
        if type(item) is int:  # the usual input: a stored object's id (no named tuple `__new__`)
            return self.store.objects.get(make_id((session_id, item)))
        # A SentInput arrives as a plain list: read by position until it must be stored.
        obj = self.store.get(ID(session_id, cast(Any, item)[SENT_OBJECT][OBJECT_ID]))
        if obj is None:
            sent = SentInput(*cast(Any, item))
            if sent.data is not None:
                spec = ObjectSpec.from_row(session_id, sent.object)
                obj = self._stored(self.store.put_bytes(spec, ObjectInfo.from_wire(sent.info), sent.data))
        return obj

    def here(self, session_id: int, items: list[int | SentInput],
             in_memory: bool = False) -> list[StoredObject] | None:
        """The inputs when every one is stored here or came with its data (stored now), without
        awaiting; None when any must come from a peer, or with `in_memory` is a file (reading
        it could block)."""
        found = []
        for item in items:
            obj = self._present(session_id, item)
            if obj is None or (in_memory and obj.data is None):
                return None
            found.append(obj)
        return found

    def all_here(self, session_id: int, items: list[int | SentInput]) -> bool:
        """Every input is stored here or came with its data: `ensure` will not wait for a peer.
        Stores nothing: storing sent data may fail (a bad archive), which fails the task in
        `ensure`, not the caller."""
        objects = self.store.objects
        for item in items:  # positions, not views: this runs for every assigned task
            if type(item) is int:
                if make_id((session_id, item)) not in objects:
                    return False
                continue
            sent = cast(Any, item)
            if sent[SENT_DATA] is None and ID(session_id, sent[SENT_OBJECT][OBJECT_ID]) not in objects:
                return False
        return True

    async def ensure(self, session_id: int, item: int | SentInput, assigned_epoch: int | None = None) -> StoredObject:
        """`item` = the id of an object already here, or a `SentInput` (where to get it).
        `assigned_epoch`: `epoch` when the task was assigned (see `peer_lost`)."""
        obj = self._present(session_id, item)
        if obj is not None:
            return obj
        if isinstance(item, int):
            raise TransferError(f"input {ID(session_id, item)} should be on this governor but is not")
        sent = SentInput(*item)
        location = sent.location
        spec = ObjectSpec.from_row(session_id, sent.object)
        while True:
            obj = self.store.get(spec.id)
            if obj is not None:
                return obj
            if location is None:
                raise TransferError(f"input {spec.id} is not on this governor and has no location")
            if assigned_epoch is not None and self._lost.get(location, -1) > assigned_epoch:
                raise TransferError(f"cannot fetch input {spec.id}: governor {location} was lost", location)
            event = self._inflight.get(spec.id)
            if event is not None:
                await event.wait()
                continue
            event = self._inflight[spec.id] = trio.Event()
            try:
                obj = self._stored(await self._receive(location, spec))
                self.store.received_bytes += obj.size
                # small transfers are many on graphs of tiny tasks: logging each costs ~5 % there
                level = logging.INFO if obj.path is not None else logging.DEBUG
                logger.log(level, "fetched object %s (%d bytes) from %s", spec.id, obj.size, location)
                return obj
            finally:
                del self._inflight[spec.id]
                event.set()

    async def _receive(self, location: str, spec: ObjectSpec) -> StoredObject:
        """One attempt on a pooled connection (it may have gone stale), then one on a fresh one;
        `peer_lost` cuts both short."""
        reading = self._reading.setdefault(location, set())
        with trio.CancelScope() as scope:
            reading.add(scope)
            try:
                for reuse in (True, False):
                    try:
                        async with self.peers.connection(location, reuse) as conn:
                            return await receive_object(conn, spec, self.store)
                    except Exception as exc:
                        if not reuse:
                            raise TransferError(f"cannot fetch input {spec.id} from {location}: {exc}",
                                                location) from exc
            finally:
                reading.discard(scope)
        raise TransferError(f"cannot fetch input {spec.id}: governor {location} was lost", location)
