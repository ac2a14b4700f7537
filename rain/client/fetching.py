"""Downloads fetched data: inline in the reply, or streamed from the governor holding it.

A big object is spooled to an unlinked temporary file and read back with one `read`: building
it in memory would hold it twice at the end (a bytearray, then its copy as `bytes`), and the
page cache makes the detour cheap.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from rain.client.connection import Connection
from rain.common.addresses import split_address
from rain.common.attributes import ObjectInfo
from rain.common.data_instance import DataInstance
from rain.common.errors import RainException
from rain.core.protocol import messages as m
from rain.core.protocol.auth import Credentials

if TYPE_CHECKING:
    from rain.client.data import DataObject

SPOOL_ABOVE = 32 * 1024 * 1024


class GovernorConnections:
    """The client's data connections to governors, kept for reuse.

    A fetch from a governor then costs one round trip instead of a TCP connect and the
    handshake (and with --tls a TLS handshake, a few milliseconds of CPU). A connection that
    fails midway is closed, never reused; a kept one that turns out stale (the governor
    restarted) is replaced by a new one once."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._idle: dict[str, Connection] = {}

    def download(self, address: str, obj: DataObject) -> bytes:
        kept = self._idle.pop(address, None)
        if kept is not None:
            try:
                data = _download(kept, address, obj)
            except RainException:
                kept.close()  # stale, or a refusal: either way, once more on a new connection
            except BaseException:
                kept.close()
                raise
            else:
                self._idle[address] = kept
                return data
        host, port = split_address(address)
        conn = Connection(host, port, self.credentials, what="governor")
        try:
            data = _download(conn, address, obj)
        except BaseException:
            conn.close()
            raise
        self._idle[address] = conn
        return data

    def close(self) -> None:
        for conn in self._idle.values():
            conn.close()
        self._idle.clear()


def _download(conn: Connection, address: str, obj: DataObject) -> bytes:
    conn.send(m.FetchObject(list(obj.id)))
    header = conn.receive()
    if isinstance(header, m.Error):
        raise RainException(f"cannot fetch {obj!r} from governor {address}: {header.message}")
    if not isinstance(header, m.ObjectHeader):
        raise RainException(f"unexpected reply {header.kind!r} from governor {address}")
    if header.size <= SPOOL_ABOVE:
        data = bytearray()
        _receive_chunks(conn, address, header.size, data.extend)
        return bytes(data)
    with tempfile.TemporaryFile() as spool:
        _receive_chunks(conn, address, header.size, spool.write)
        spool.seek(0)
        return spool.read()


def _receive_chunks(conn: Connection, address: str, size: int, write: Callable[[bytes], object]) -> None:
    received = 0
    while received < size:
        chunk = conn.receive()
        if not isinstance(chunk, m.DataChunk):
            raise RainException(f"unexpected reply {chunk.kind!r} from governor {address}")
        write(chunk.data)
        received += len(chunk.data)


def fetch_data(reply: m.FetchReady, obj: DataObject, governors: GovernorConnections) -> DataInstance:
    data = reply.data if reply.data is not None else governors.download(reply.address, obj)  # type: ignore[arg-type]
    return DataInstance(reply.data_type, data=data, spec=obj.spec, info=ObjectInfo.from_wire(reply.info),
                        object_id=obj.id)
