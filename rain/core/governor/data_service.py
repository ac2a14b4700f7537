"""The governor's data port: streams stored objects, in chunks, to peers and clients.

A request is `FetchObject(id)`; the answer is `ObjectHeader(size)` followed by `DataChunk`s
adding up to `size` bytes (or an `Error`), or, for an object stored as a file on a plain TCP
connection, `RawObject(size)` followed by the file's bytes unframed, sent with `sendfile`.
Directories are packed into a temporary tar file first, so memory stays bounded whatever the
object size.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator

import trio

from rain.common.dirtar import write_directory_tar
from rain.common.ids import ID
from rain.core.governor.store import ObjectStore, StoredObject
from rain.core.protocol import messages as m
from rain.core.protocol.codec import encode
from rain.core.protocol.errors import describe, is_connection_error
from rain.core.protocol.framing import ProtocolError, brief
from rain.core.protocol.stream import Gate, MessageStream, peer_name

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024


def pack_directory_to_file(path: str, target: str) -> None:
    with open(target, "wb") as f:
        write_directory_tar(path, f)


async def read_chunks(path: str) -> AsyncIterator[bytes]:
    async with await trio.open_file(path, "rb") as f:
        while chunk := await f.read(CHUNK_SIZE):
            yield chunk


async def stream_object(conn: MessageStream, obj: StoredObject, store: ObjectStore) -> None:
    if obj.data is not None:  # small (in memory): the header and the data in one write
        frames = [encode(m.ObjectHeader(obj.spec.data_type, len(obj.data), obj.info.to_wire()))]
        view = memoryview(obj.data)
        frames += [encode(m.DataChunk(bytes(view[start : start + CHUNK_SIZE])))
                   for start in range(0, len(obj.data), CHUNK_SIZE)]
        await conn.send_raw(b"".join(frames))
        return
    assert obj.path is not None
    path, temporary = obj.path, None
    if os.path.isdir(path):
        temporary = store.temp_path("tar")
        await trio.to_thread.run_sync(pack_directory_to_file, path, temporary)
        path = temporary
    try:
        if conn.raw_socket is not None:  # plain TCP: the file goes out with sendfile
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                size = os.fstat(fd).st_size
                await conn.send_file(encode(m.RawObject(obj.spec.data_type, size, obj.info.to_wire())), fd, size)
            finally:
                os.close(fd)
            return
        size = os.path.getsize(path)
        await conn.send(m.ObjectHeader(obj.spec.data_type, size, obj.info.to_wire()))
        async for chunk in read_chunks(path):
            await conn.send(m.DataChunk(chunk))
    finally:
        if temporary is not None:
            os.unlink(temporary)


async def handle_data_connection(store: ObjectStore, gate: Gate, stream: trio.abc.Stream) -> None:
    conn = MessageStream(stream, peer_name(stream))
    try:
        if await gate.admit(conn) is None:
            return
        async for msg in conn:
            if not isinstance(msg, m.FetchObject):
                raise ProtocolError(f"unexpected message {msg.kind!r} on the data port")
            try:
                oid = ID.from_wire(msg.id)
            except (TypeError, ValueError) as exc:
                raise ProtocolError(f"invalid object id {brief(msg.id)}") from exc
            obj = store.get(oid)
            if obj is None:
                await conn.send(m.Error(None, f"object {oid} is not on this governor"))
                continue
            await stream_object(conn, obj, store)
    except Exception as exc:
        if is_connection_error(exc):
            logger.warning("data connection from %s closed: %s", conn.peer, describe(exc))
        else:
            logger.exception("internal error on a data connection from %s; connection closed", conn.peer)
    finally:
        await conn.aclose()
