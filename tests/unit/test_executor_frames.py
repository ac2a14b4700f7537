"""The executor's frames: its quick paths make exactly the bytes and messages of the general ones."""

from __future__ import annotations

import socket

import pytest

from rain.core.protocol.codec import decode, encode
from rain.core.protocol.messages import Hello
from rain.plugins.python.executor import Connection, _encode_result
from rain.plugins.python.invoke import bytes_record
from rain.plugins.python.messages import INLINE_RESULT_LIMIT, ExecutorCall, ExecutorResult


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
