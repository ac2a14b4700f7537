"""Content types: validation, the subtype relation, and (de)serialization of values.

A content type says how the bytes of a data object are to be read. Client,
governors and executors all validate types and decode data the same way, so the
rules live here: `check_content_type` at creation, `is_subtype` when a task's
dynamic type is checked against the static one, and `encode_value` /
`decode_value` when values become bytes and back.
"""

from __future__ import annotations

import codecs
import functools
import io
import json
import pickle
from collections.abc import Callable
from typing import Any

import cbor2
import cloudpickle

from rain.common.errors import RainException

_SIMPLE_TYPES = frozenset({"pickle", "cloudpickle", "json", "cbor", "arrow", "text", "protobuf", "dir"})
_PICKLES = frozenset({"pickle", "cloudpickle"})


def check_content_type(ct: str | None) -> str | None:
    """Validate a content type; return it normalized ("" becomes None).

    Raises ValueError for anything that is not a known content type.
    """
    if ct is None or ct == "":
        return None
    if not isinstance(ct, str):
        raise ValueError(f"unknown content type {ct!r}")
    if ct in _SIMPLE_TYPES:
        return ct
    if ct.startswith("text-"):
        try:
            codecs.lookup(ct[5:])
        except LookupError:
            raise ValueError(f"unknown content type {ct!r}") from None
        return ct
    for prefix in ("mime/", "user/", "protobuf/"):
        if ct.startswith(prefix) and len(ct) > len(prefix):
            return ct
    raise ValueError(f"unknown content type {ct!r}")


def text_encoding(ct: str | None) -> str:
    """The text encoding implied by a content type ("text-ENC" -> ENC, else utf-8)."""
    if ct is not None and ct.startswith("text-"):
        return ct[5:]
    return "utf-8"


def is_subtype(sub: str | None, sup: str | None) -> bool:
    """Whether data of type `sub` may stand where type `sup` is declared."""
    sub = sub or None
    sup = sup or None
    if sup is None or sub == sup:
        return True
    if sub is None:
        return False
    if sup in ("text", "protobuf") and sub.startswith(sup + ("-" if sup == "text" else "/")):
        return True
    return sub in _PICKLES and sup in _PICKLES


# Rain 0.4 used pyarrow's generic `serialize`, which pyarrow removed; values now travel as an
# Arrow IPC stream. The schema metadata records what was encoded, so the same kind comes back:
# a Table, a RecordBatch, an Array (one column) or a plain list (one column, back as a list).
_ARROW_KIND = b"rain.kind"
_ARROW_COLUMN = "values"


def _encode_arrow(value: Any) -> bytes:
    pa = _import_pyarrow()
    if isinstance(value, (pa.Table, pa.RecordBatch)):
        kind = b"table" if isinstance(value, pa.Table) else b"batch"
        data = value
    elif isinstance(value, (pa.Array, pa.ChunkedArray)):
        kind, data = b"array", pa.table({_ARROW_COLUMN: value})
    elif isinstance(value, (list, tuple)):
        kind, data = b"list", pa.table({_ARROW_COLUMN: pa.array(list(value))})
    else:
        raise TypeError("arrow content needs a pyarrow Table, RecordBatch or Array, or a list")
    data = data.replace_schema_metadata({**(data.schema.metadata or {}), _ARROW_KIND: kind})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write(data)
    return sink.getvalue()


def _decode_arrow(data: bytes) -> Any:
    pa = _import_pyarrow()
    table = pa.ipc.open_stream(io.BytesIO(data)).read_all()
    metadata = dict(table.schema.metadata or {})
    kind = metadata.pop(_ARROW_KIND, b"table")
    table = table.replace_schema_metadata(metadata or None)
    if kind == b"batch":
        batches = table.combine_chunks().to_batches()
        return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)
    if kind == b"array":
        return table.column(0).combine_chunks()
    if kind == b"list":
        return table.column(0).to_pylist()
    return table


def _import_pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.ipc
    except ImportError:
        raise RainException(
            "content type 'arrow' needs the optional package pyarrow, which is not installed"
        ) from None
    return pyarrow


def _encode_text(value: Any, encoding: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError("text content needs a str")
    return value.encode(encoding)


def _decode_text(data: bytes, encoding: str) -> str:
    return bytes(data).decode(encoding)


_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    # The default protocol: "pickle" data is exactly `pickle.dumps(value)`, as users expect.
    "pickle": pickle.dumps,
    "cloudpickle": cloudpickle.dumps,
    "json": lambda v: json.dumps(v).encode("utf-8"),
    "cbor": cbor2.dumps,
    "arrow": _encode_arrow,
}

_DECODERS: dict[str, Callable[[bytes], Any]] = {
    "pickle": pickle.loads,
    "cloudpickle": pickle.loads,
    "json": lambda d: json.loads(d.decode("utf-8")),
    "cbor": cbor2.loads,
    "arrow": _decode_arrow,
}


def encode_value(value: Any, content_type: str | None) -> bytes:
    """Serialize `value` as `content_type`; RainException if it cannot be done."""
    ct = check_content_type(content_type)
    if ct is not None and (ct == "text" or ct.startswith("text-")):
        encoder: Callable[[Any], bytes] | None = functools.partial(_encode_text, encoding=text_encoding(ct))
    else:
        encoder = _ENCODERS.get(ct) if ct is not None else None
    if encoder is None:
        raise RainException(
            f"cannot encode a value of type {type(value).__name__} "
            f"with content type {ct!r}: no encoder for this content type"
        )
    try:
        return encoder(value)
    except RainException:
        raise
    except Exception as exc:
        raise RainException(
            f"cannot encode a value of type {type(value).__name__} "
            f"with content type {ct!r}: {exc}"
        ) from exc


def decode_value(data: bytes, content_type: str | None) -> Any:
    """Deserialize bytes of the given content type; RainException if it cannot be done."""
    ct = check_content_type(content_type)
    if ct is not None and (ct == "text" or ct.startswith("text-")):
        decoder: Callable[[bytes], Any] | None = functools.partial(_decode_text, encoding=text_encoding(ct))
    else:
        decoder = _DECODERS.get(ct) if ct is not None else None
    if decoder is None:
        raise RainException(
            f"cannot load an object with no known content type (content type {ct!r}); "
            "use get_bytes() for the raw data"
        )
    try:
        return decoder(data)
    except RainException:
        raise
    except Exception as exc:
        raise RainException(f"cannot decode data as content type {ct!r}: {exc}") from exc


def merge_content_types(a: str | None, b: str | None) -> str | None:
    """The common type of two declarations (the more specific one); ValueError if they clash.

    None yields to anything, "text" to "text-latin2", and pickle and cloudpickle merge into
    cloudpickle (which reads both), as in Rain 0.4.
    """
    a, b = check_content_type(a), check_content_type(b)
    if a is None or b is None or a == b:
        return a if b is None else b
    if {a, b} == _PICKLES:
        return "cloudpickle"
    if is_subtype(a, b):
        return a
    if is_subtype(b, a):
        return b
    raise ValueError(f"incompatible content types {a!r} and {b!r}")
