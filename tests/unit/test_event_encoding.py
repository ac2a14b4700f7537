"""The event log writes TaskFinished, its one event per task, with a direct format instead of the
generic JSON encoder; the dashboard and `rain events` read that text, so it must be the very
text the encoder writes, and every value the format does not cover goes the generic way."""

from __future__ import annotations

import json
import math

import pytest

from rain.core.server.events import _ENCODER, _encode_event


def finished(**changes: object) -> dict[str, object]:
    fields = {"session": 3, "task": 12345, "governor": "127.0.0.1:4567", "name": "inc", "task_type": "py/call",
              "start_time": 1764195000.123456, "duration": 0.000123}
    fields.update(changes)
    return fields


@pytest.mark.parametrize("fields", [
    finished(),
    finished(name=None),
    finished(name='quo"te\\ \n ünï \u2028 \x00'),
    finished(governor="gov-é", task_type="program"),
    finished(start_time=None, duration=None),
    finished(start_time=12, duration=0),
    finished(duration=math.nan),
    finished(duration=math.inf, start_time=-math.inf),
    finished(duration=True),
    finished(name=7, task_type=("py", "call")),
    finished(name=["a", "list"], governor={"a": 1}),
    finished(session=2**70, task=-1),
    finished(duration=1e-300, start_time=1.5e300),
    {"task": 1, "session": 2},  # another shape: the generic encoding
])
def test_task_finished_text_is_the_encoders_text(fields):
    strings: dict[str | None, str] = {}
    for _ in range(2):  # once filling the string cache, once reading it
        text = _encode_event("TaskFinished", fields, strings)
        assert text == _ENCODER.encode({"type": "TaskFinished", **fields})
    assert json.loads(text)["type"] == "TaskFinished"


def test_cached_strings_do_not_match_values_of_other_types():
    strings: dict[str | None, str] = {}
    _encode_event("TaskFinished", finished(name="1"), strings)
    for name in (1, True, 1.0, b"1"):
        fields = finished(name=name)
        assert _encode_event("TaskFinished", fields, strings) == _ENCODER.encode({"type": "TaskFinished", **fields})
