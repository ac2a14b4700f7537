"""The frames between a governor and its executors: the quick paths of both ends make exactly
the bytes and messages of the general ones."""

from __future__ import annotations

import socket

import cbor2
import pytest

from rain.core.protocol.codec import decode, encode
from rain.core.protocol.framing import ProtocolError
from rain.core.protocol.messages import Hello
from rain.plugins.python.executor import Connection, _decode, _encode_result
from rain.plugins.python.invoke import bytes_record
from rain.plugins.python.messages import INLINE_RESULT_LIMIT, ExecutorCall, ExecutorResult
from rain.plugins.python.pool import decode_reply
from rain.plugins.python.task import _CallFrames


@pytest.mark.parametrize("result", [
    ExecutorResult(None, [bytes_record(b"")], [], {}),
    ExecutorResult(None, [bytes_record(b"501")], [], {}),
    ExecutorResult(None, [bytes_record(b"x" * 300)], [], {}),
    ExecutorResult(None, [bytes_record(b"y" * 70_000)], [], {}),
    ExecutorResult(None, [bytes_record(b"z" * INLINE_RESULT_LIMIT)], [], {}),
    ExecutorResult(None, [bytes_record(b"1")], ["a line"], {}),
    ExecutorResult(None, [bytes_record(b"1")], [], {"k": 1}),
    ExecutorResult(None, [{**bytes_record(b"1"), "content_type": "text"}], [], {}),
    ExecutorResult(None, [{**bytes_record(b"1"), "user": {"u": 2}}], [], {}),
    ExecutorResult(None, [bytes_record(b"1"), bytes_record(b"2")], [], {}),
    ExecutorResult("ValueError: no", None, [], {}),
])
def test_result_frames_are_those_of_the_codec(result):
    assert _encode_result(result) == encode(result)


def test_calls_arrive_whole_split_or_several_at_once():
    left, right = socket.socketpair()
    conn = Connection(right)
    calls = [ExecutorCall({"session_id": 1, "row": [i]}, "/tasks", [1, 1], b"f" * i, [None], [["out", None, "blob"]])
             for i in range(3)]
    frames = [encode(call) for call in calls]
    left.sendall(frames[0])
    assert conn.receive() == calls[0]
    left.sendall(frames[1][:5])
    left.sendall(frames[1][5:] + frames[2] + encode(Hello(1, "governor"))[:3])
    assert [conn.receive(), conn.receive()] == calls[1:]
    left.close()
    assert conn.receive() is None
    assert decode(frames[2][4:]) == calls[2]
    right.close()


CALLS = [
    ExecutorCall({"session_id": 1, "row": [7, "py/call", {"args": b"a"}, [3, "fn"], [8], 1, "f", None]},
                 "/tasks", [1, 3], None, [None], [["out", None, "blob"]]),
    ExecutorCall({"session_id": 2, "row": [9]}, "/other/tasks", [2, 5], b"f" * 300,
                 [None, {"data": b"1", "path": None, "data_type": "blob", "spec": None, "info": {}}],
                 [["a", "text", "blob"], ["b", None, "dir"]]),
    ExecutorCall({"session_id": 1, "row": [10]}, "/tasks", [1, 3], b"fn", [{"data": None, "path": "/x"}, None], []),
]


def test_call_frames_are_those_of_the_codec():
    frames = _CallFrames()
    for call in [*CALLS, CALLS[0], CALLS[2], CALLS[1]]:  # what it keeps from the last call must not leak
        assert frames.frame(call.spec, call.tasks_dir, call.fn_key, call.fn, call.inputs, call.outputs) == encode(call)


@pytest.mark.parametrize("result", [
    ExecutorResult(None, [bytes_record(b"")], [], {}),
    ExecutorResult(None, [bytes_record(b"x" * 23)], [], {}),
    ExecutorResult(None, [bytes_record(b"x" * 24)], [], {}),
    ExecutorResult(None, [bytes_record(b"y" * 70_000)], [], {}),
    ExecutorResult(None, [bytes_record(b"1")], ["a line"], {}),
    ExecutorResult(None, [{**bytes_record(b"1"), "content_type": "text"}], [], {}),
    ExecutorResult(None, [bytes_record(b"1"), bytes_record(b"2")], [], {}),
    ExecutorResult("ValueError: no", None, [], {}),
])
def test_the_governor_reads_results_as_the_codec_does(result):
    payload = _encode_result(result)[4:]
    assert decode_reply(payload) == decode(payload) == result


def _outcome(read, payload):
    try:
        return read(payload)
    except ProtocolError as exc:
        return str(exc)


def test_odd_values_in_the_common_result_are_read_as_by_the_codec():
    good = _encode_result(ExecutorResult(None, [bytes_record(b"abc")], [], {}))[4:]
    head, tail = good.split(b"Cabc")
    middles = [b"Dabc", b"Babc", b"cabc", b"\x5f\x43abc\xff", b"",
               b"\x58\x03abc", b"\x59\x00\x03abc", b"\x5a\x00", b"C"]
    for middle in middles:  # too long, too short, text, indefinite, none, long length fields, cut
        payload = head + middle + tail
        assert _outcome(decode_reply, payload) == _outcome(decode, payload), middle
    assert decode_reply(head + b"\x58\x03abc" + tail).outputs == [bytes_record(b"abc")]


@pytest.mark.parametrize("body", [
    ExecutorCall({"session_id": 1, "row": [1]}, "/tasks", [1, 1], None, [None], [["out", None, "blob"]]).to_wire(),
    ExecutorCall({"row": []}, "/tasks", [2, 7], b"fn", [], []).to_wire(),
    {**ExecutorCall(None, "/t", [1, 1], None, [], []).to_wire(), "fn": "not bytes"},
    {**ExecutorCall(None, "/t", [1, 1], None, [], []).to_wire(), "tasks_dir": 3},
    {**ExecutorCall(None, "/t", [1, 1], None, [], []).to_wire(), "inputs": {}},
    {**ExecutorCall(None, "/t", [1, 1], None, [], []).to_wire(), "outputs": None},
    {**ExecutorCall(None, "/t", [1, 1], None, [], []).to_wire(), "extra": 1},
    {key: value for key, value in ExecutorCall(None, "/t", [1, 1], None, [], []).to_wire().items() if key != "fn"},
    {**ExecutorCall(None, "/t", [1, 1], None, [], []).to_wire(), "type": "executor_result"},
    Hello(2, "governor").to_wire(),
    [1, 2],
])
def test_call_frames_decode_as_the_codec_decodes_them(body):
    frame = cbor2.dumps(body)
    assert _outcome(_decode, frame) == _outcome(decode, frame)


def test_bad_cbor_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        _decode(b"\xff\x00")


def test_the_quick_call_decoding_checks_what_the_codec_checks():
    """If ExecutorCall gains a field or a checked type, `_decode` must learn it too."""
    assert ExecutorCall.field_checks == (("tasks_dir", (str,)), ("fn", (bytes, type(None))),
                                         ("inputs", (list,)), ("outputs", (list,)))
    assert ExecutorCall.fields == {"spec", "tasks_dir", "fn_key", "fn", "inputs", "outputs"}


def test_the_executor_reads_the_governors_call_frames():
    frames = _CallFrames()
    for call in CALLS:
        frame = frames.frame(call.spec, call.tasks_dir, call.fn_key, call.fn, call.inputs, call.outputs)
        assert _decode(frame[4:]) == call
