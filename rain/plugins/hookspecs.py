"""The hook through which plugins hand task types to a governor."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from rain.plugins.api import TaskType

PROJECT_NAME = "rain"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def rain_task_types() -> Iterable[TaskType]:  # type: ignore[empty-body]
    """Return the task types this plugin provides.

    Called once when a governor starts. Each `TaskType.task_type` string must be unique across
    all plugins; a clash stops the governor with an error naming both plugins.
    """
