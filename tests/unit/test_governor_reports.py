"""The governor's reports: the rows it sends as plain tuples make exactly the named tuples' bytes."""

from __future__ import annotations

from rain.common.rows import FailedTask, FinishedTask, ReportedOutput
from rain.core.governor.reports import _plain_rows
from rain.core.protocol.codec import decode, encode
from rain.core.protocol.messages import TasksUpdated


def test_plain_rows_encode_as_the_named_tuples():
    batch = [
        FinishedTask(1, 2, {"governor": "g", "duration": 0.5}, [ReportedOutput(3, {"size": 2}, b"12")]),
        FailedTask(1, 4, {"error": "ValueError: no", "inputs_here": [[1, 5]]}),
        FinishedTask(2, 6, {}, [ReportedOutput(7, {}, None), ReportedOutput(8, {"size": 1}, b"x")]),
        FinishedTask(2, 9, {}, []),
    ]
    named = TasksUpdated([r for r in batch if isinstance(r, FinishedTask)],
                         [r for r in batch if isinstance(r, FailedTask)])
    plain = TasksUpdated(*_plain_rows(batch))
    assert encode(plain) == encode(named)
    assert decode(encode(plain)[4:]) == decode(encode(named)[4:])
