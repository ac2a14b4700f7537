"""Downloads fetched data: inline in the reply, or streamed from the governor holding it.

A big object is spooled to an unlinked temporary file and read back with one `read`: building
it in memory would hold it twice at the end (a bytearray, then its copy as `bytes`), and the
page cache makes the detour cheap. `fetch_to_path` writes into a file instead and never holds
the data. On plain TCP a governor sends a stored file unframed (`RawObject`, with `sendfile`),
which is read here into one preallocated buffer with `recv_into`.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from rain.client.connection import Connection
from rain.common.addresses import split_address
from rain.common.attributes import ObjectInfo
from rain.common.data_instance import DataInstance
from rain.common.dirtar import make_writable, remove_tree, unpack_directory
from rain.common.errors import RainException
from rain.core.protocol import messages as m
from rain.core.protocol.auth import Credentials

if TYPE_CHECKING:
    from rain.client.data import DataObject

SPOOL_ABOVE = 32 * 1024 * 1024


T = TypeVar("T")
Receiver = Callable[[Connection, str, "m.ObjectHeader | m.RawObject"], T]


class GovernorConnections:
    """The client's data connections to governors, kept for reuse.

    A fetch from a governor then costs one round trip instead of a TCP connect and the
    handshake (and with --tls a TLS handshake, a few milliseconds of CPU). A connection that
    fails midway is closed, never reused; a kept one that turns out stale (the governor
    restarted) is replaced by a new one once, and `receive` starts over."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._idle: dict[str, Connection] = {}

    def download(self, address: str, obj: DataObject, receive: Receiver[T] | None = None) -> T:
        """The object's data from the governor at `address`: bytes, or what `receive` makes of
        the header and the data that follows it on the connection."""
        receive = receive or _receive_bytes  # type: ignore[assignment]
        assert receive is not None
        kept = self._idle.pop(address, None)
        if kept is not None:
            try:
                result = _download(kept, address, obj, receive)
            except RainException:
                kept.close()  # stale, or a refusal: either way, once more on a new connection
            except BaseException:
                kept.close()
                raise
            else:
                self._idle[address] = kept
                return result
        host, port = split_address(address)
        conn = Connection(host, port, self.credentials, what="governor")
        try:
            result = _download(conn, address, obj, receive)
        except BaseException:
            conn.close()
            raise
        self._idle[address] = conn
        return result

    def close(self) -> None:
        for conn in self._idle.values():
            conn.close()
        self._idle.clear()


def _download(conn: Connection, address: str, obj: DataObject, receive: Receiver[T]) -> T:
    conn.send(m.FetchObject(list(obj.id)))
    header = conn.receive()
    if isinstance(header, m.Error):
        raise RainException(f"cannot fetch {obj!r} from governor {address}: {header.message}")
    if not isinstance(header, (m.ObjectHeader, m.RawObject)):
        raise RainException(f"unexpected reply {header.kind!r} from governor {address}")
    return receive(conn, address, header)


def _receive_data(conn: Connection, address: str, header: m.ObjectHeader | m.RawObject,
                  write: Callable[[memoryview], object]) -> None:
    if isinstance(header, m.RawObject):
        conn.receive_raw(header.size, write)
    else:
        _receive_chunks(conn, address, header.size, write)


def _receive_bytes(conn: Connection, address: str, header: m.ObjectHeader | m.RawObject) -> bytes:
    if header.size <= SPOOL_ABOVE:
        data = bytearray()
        _receive_data(conn, address, header, data.extend)
        return bytes(data)
    with tempfile.TemporaryFile() as spool:
        _receive_data(conn, address, header, spool.write)
        spool.seek(0)
        return spool.read()


def _receive_chunks(conn: Connection, address: str, size: int, write: Callable[[memoryview], object]) -> None:
    received = 0
    while received < size:
        chunk = conn.receive()
        if not isinstance(chunk, m.DataChunk):
            raise RainException(f"unexpected reply {chunk.kind!r} from governor {address}")
        write(memoryview(chunk.data))
        received += len(chunk.data)


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


def fetch_data(reply: m.FetchReady, obj: DataObject, governors: GovernorConnections) -> DataInstance:
    data = reply.data if reply.data is not None else governors.download(reply.address, obj)  # type: ignore[arg-type]
    return DataInstance(reply.data_type, data=data, spec=obj.spec, info=ObjectInfo.from_wire(reply.info),
                        object_id=obj.id)


def fetch_to_path(reply: m.FetchReady, obj: DataObject, governors: GovernorConnections,
                  path: str | os.PathLike[str]) -> DataInstance:
    """Downloads straight into a file at `path` (a dir object: a directory), never holding the
    data in memory: the bytes go from the socket through one buffer into a temporary file beside
    `path`, which then replaces whatever is at `path` (so a failed fetch leaves no half file)."""
    target = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        raise RainException(f"cannot fetch {obj!r} to {target!r}: directory {parent!r} does not exist")
    fd, part = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(target)}.rain-")
    try:
        def receive(conn: Connection, address: str, header: m.ObjectHeader | m.RawObject) -> None:
            os.ftruncate(fd, 0)  # a retry on a fresh connection starts over
            os.lseek(fd, 0, os.SEEK_SET)
            _receive_data(conn, address, header, functools.partial(_write_all, fd))

        if reply.data is not None:
            _write_all(fd, memoryview(reply.data))
        else:
            governors.download(reply.address, obj, receive)  # type: ignore[arg-type]
        os.close(fd)
        fd = -1
        os.chmod(part, 0o666 & ~_UMASK)
        if os.path.lexists(target):
            remove_tree(target)
        if reply.data_type == "dir":
            with open(part, "rb") as f:
                unpack_directory(f, target)
            make_writable(target)
            os.unlink(part)
        else:
            os.replace(part, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        if os.path.exists(part):
            os.unlink(part)
        raise
    return DataInstance(reply.data_type, path=target, spec=obj.spec, info=ObjectInfo.from_wire(reply.info),
                        object_id=obj.id)


def _read_umask() -> int:
    mask = os.umask(0o022)  # read once at import, by setting it (there is no getter)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
