"""A task remembers where the user's code created it (shown when it fails), line included."""

from __future__ import annotations

import inspect

from rain.client import blob, tasks
from rain.client.session import Session


def _make_in_helper():
    return tasks.Concat([blob(b"x")])  # the innermost user frame


def test_stack_names_the_user_frames_and_lines():
    with Session(None, 1).bind_only():
        line = inspect.currentframe().f_lineno + 1
        task = _make_in_helper()
    stack = task.stack.splitlines()
    helper_line = inspect.getsourcelines(_make_in_helper)[1] + 1
    assert stack[-1] == f'  File "{__file__}", line {helper_line}, in _make_in_helper'
    assert stack[-2] == f'  File "{__file__}", line {line}, in test_stack_names_the_user_frames_and_lines'
    assert "rain/client" not in task.stack  # the library's own frames are left out
