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
from rain.common.attributes import ObjectInfo
from rain.common.data_instance import DataInstance
from rain.common.errors import RainException
from rain.core.protocol import messages as m
from rain.core.protocol.auth import Credentials

if TYPE_CHECKING:
    from rain.client.data import DataObject

SPOOL_ABOVE = 32 * 1024 * 1024


def download(address: str, obj: DataObject, credentials: Credentials) -> bytes:
    host, _, port = address.rpartition(":")
    conn = Connection(host, int(port), credentials, what="governor")
    try:
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
    finally:
        conn.close()


def _receive_chunks(conn: Connection, address: str, size: int, write: Callable[[bytes], object]) -> None:
    received = 0
    while received < size:
        chunk = conn.receive()
        if not isinstance(chunk, m.DataChunk):
            raise RainException(f"unexpected reply {chunk.kind!r} from governor {address}")
        write(chunk.data)
        received += len(chunk.data)


def fetch_data(reply: m.FetchReady, obj: DataObject, credentials: Credentials) -> DataInstance:
    """`credentials`: the client's, also good for governors' data ports."""
    data = reply.data if reply.data is not None else download(reply.address, obj, credentials)  # type: ignore[arg-type]
    return DataInstance(reply.data_type, data=data, spec=obj.spec, info=ObjectInfo.from_wire(reply.info),
                        object_id=obj.id)
