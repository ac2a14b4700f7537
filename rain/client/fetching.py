"""Downloads fetched data: inline in the reply, or streamed from the governor holding it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rain.client.connection import Connection
from rain.common.attributes import ObjectInfo
from rain.common.data_instance import DataInstance
from rain.common.errors import RainException
from rain.core.protocol import messages as m

if TYPE_CHECKING:
    from rain.client.data import DataObject


def download(address: str, obj: DataObject) -> bytes:
    host, _, port = address.rpartition(":")
    conn = Connection(host, int(port))
    try:
        conn.send(m.FetchObject(list(obj.id)))
        header = conn.receive()
        if isinstance(header, m.Error):
            raise RainException(f"cannot fetch {obj!r} from governor {address}: {header.message}")
        if not isinstance(header, m.ObjectHeader):
            raise RainException(f"unexpected reply {header.kind!r} from governor {address}")
        data = bytearray()
        while len(data) < header.size:
            chunk = conn.receive()
            if not isinstance(chunk, m.DataChunk):
                raise RainException(f"unexpected reply {chunk.kind!r} from governor {address}")
            data += chunk.data
        return bytes(data)
    finally:
        conn.close()


def fetch_data(reply: m.FetchReady, obj: DataObject) -> DataInstance:
    data = reply.data if reply.data is not None else download(reply.address, obj)  # type: ignore[arg-type]
    return DataInstance(reply.data_type, data=data, spec=obj.spec, info=ObjectInfo.from_wire(reply.info),
                        object_id=obj.id)
