"""Built-in task types (`buildin/...`) as client-side task classes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rain.client.session import Session
from rain.client.task import Task
from rain.common.errors import RainException


class Concat(Task):
    """Concatenates the given blobs in order."""

    TASK_TYPE = "buildin/concat"

    def __init__(self, inputs: Iterable[Any], *, name: str | None = None, session: Session | None = None) -> None:
        super().__init__(list(inputs), 1, name=name, session=session)


class Sleep(Task):
    """Forwards `input` after `timeout` seconds (for tests and demos)."""

    TASK_TYPE = "buildin/sleep"

    def __init__(self, input: Any, timeout: float, *, name: str | None = None, session: Session | None = None,
                 cpus: int = 1) -> None:
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout < 0:
            raise RainException(f"Sleep timeout must be a non-negative number, got {timeout!r}")
        super().__init__([input], 1, config=float(timeout), name=name, session=session, cpus=cpus)


def concat(inputs: Iterable[Any], **kwargs: Any) -> Concat:
    return Concat(inputs, **kwargs)


def sleep(timeout: float, dataobj: Any, **kwargs: Any) -> Sleep:
    """The older call order `sleep(seconds, object)`."""
    return Sleep(dataobj, timeout, **kwargs)
