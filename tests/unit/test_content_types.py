"""Tests of content type validation, subtyping and (de)serialization."""

from __future__ import annotations

import importlib.util

import pytest

from rain.common.content_types import (
    check_content_type,
    decode_value,
    encode_value,
    is_subtype,
)
from rain.common.errors import RainException


@pytest.mark.parametrize(
    "ct",
    [
        "pickle",
        "cloudpickle",
        "json",
        "cbor",
        "arrow",
        "text",
        "text-latin2",
        "text-utf-8",
        "mime/image/png",
        "user/mytype",
    ],
)
def test_valid_content_types(ct: str) -> None:
    assert check_content_type(ct) == ct


def test_empty_normalizes_to_none() -> None:
    assert check_content_type("") is None
    assert check_content_type(None) is None


@pytest.mark.parametrize(
    "ct", ["xml", "text-nosuchencoding", "mime/", "user/", "Pickle", "text-", 42]
)
def test_unknown_content_types(ct: object) -> None:
    with pytest.raises(ValueError, match="unknown content type"):
        check_content_type(ct)  # type: ignore[arg-type]


def test_is_subtype() -> None:
    assert is_subtype("json", None)
    assert is_subtype(None, None)
    assert is_subtype(None, "")
    assert is_subtype("json", "json")
    assert is_subtype("text-latin2", "text")
    assert not is_subtype("text", "text-latin2")
    assert not is_subtype("text-latin2", "text-utf-8")
    assert is_subtype("pickle", "cloudpickle")
    assert is_subtype("cloudpickle", "pickle")
    assert not is_subtype("json", "cbor")
    assert not is_subtype(None, "json")
    assert is_subtype("mime/a/b", "mime/a/b")
    assert not is_subtype("mime/a/b", "mime/a")


@pytest.mark.parametrize("ct", ["pickle", "cloudpickle", "json", "cbor"])
def test_roundtrip(ct: str) -> None:
    value = {"a": [1, 2, 3], "b": "x"}
    data = encode_value(value, ct)
    assert isinstance(data, bytes)
    assert decode_value(data, ct) == value


def test_text_encodings() -> None:
    assert encode_value("žluť", "text") == "žluť".encode()
    assert encode_value("žluť", "text-latin2") == "žluť".encode("latin2")
    assert decode_value("žluť".encode("latin2"), "text-latin2") == "žluť"
    assert decode_value(b"abc", "text") == "abc"


def test_cloudpickle_lambda_roundtrip() -> None:
    f = encode_value(lambda x: x + 1, "cloudpickle")
    assert decode_value(f, "cloudpickle")(1) == 2
    assert decode_value(f, "pickle")(2) == 3


def test_encode_errors_name_type_and_content_type() -> None:
    with pytest.raises(RainException, match="int.*'text'"):
        encode_value(3, "text")
    with pytest.raises(RainException, match="set.*'json'"):
        encode_value({1, 2}, "json")
    with pytest.raises(RainException, match="'pickle'"):
        encode_value(lambda x: x, "pickle")
    for ct in (None, "mime/text/plain", "user/x"):
        with pytest.raises(RainException, match="bytes"):
            encode_value(b"x", ct)
    with pytest.raises(ValueError, match="unknown content type"):
        encode_value(1, "nonsense")


def test_decode_errors() -> None:
    for ct in (None, "", "mime/text/plain", "user/x"):
        with pytest.raises(RainException, match="no known content type"):
            decode_value(b"x", ct)
    with pytest.raises(RainException, match="'json'"):
        decode_value(b"{not json", "json")
    with pytest.raises(RainException, match="text-ascii"):
        decode_value("ž".encode(), "text-ascii")


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow installed")
def test_arrow_without_pyarrow() -> None:
    with pytest.raises(RainException, match="pyarrow"):
        encode_value([1], "arrow")
    with pytest.raises(RainException, match="pyarrow"):
        decode_value(b"", "arrow")


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow missing")
def test_arrow_roundtrip() -> None:
    import pyarrow as pa

    table = pa.table({"a": [1, 2], "b": ["x", "y"]})
    assert decode_value(encode_value(table, "arrow"), "arrow").equals(table)


def test_rain_04_content_types_and_pickle_bytes() -> None:
    """17: protobuf, protobuf/* and dir are content types; pickle is exactly pickle.dumps."""
    import pickle

    from rain.common.content_types import check_content_type, encode_value, is_subtype, merge_content_types

    for ct in ("protobuf", "protobuf/my.Message", "dir"):
        assert check_content_type(ct) == ct
    assert is_subtype("protobuf/my.Message", "protobuf") and not is_subtype("protobuf", "protobuf/x")
    value = {"a": [1, 2.5, "x"]}
    assert encode_value(value, "pickle") == pickle.dumps(value)
    assert merge_content_types("pickle", "cloudpickle") == "cloudpickle"
    assert merge_content_types(None, "text-latin2") == "text-latin2"


def test_arrow_kinds_round_trip() -> None:
    pa = pytest.importorskip("pyarrow")
    from rain.common.content_types import decode_value, encode_value

    table = pa.table({"x": [1, 2], "y": ["a", "b"]})
    batch = pa.RecordBatch.from_pylist([{"x": 1}, {"x": 2}])
    array = pa.array([1.5, None])
    assert decode_value(encode_value(table, "arrow"), "arrow").equals(table)
    back = decode_value(encode_value(batch, "arrow"), "arrow")
    assert isinstance(back, pa.RecordBatch) and back.equals(batch)
    assert decode_value(encode_value(array, "arrow"), "arrow").equals(array)
    assert decode_value(encode_value([1, 2, 3], "arrow"), "arrow") == [1, 2, 3]
