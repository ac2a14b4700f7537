"""Python remote tasks (`py/...`)."""

from __future__ import annotations

from rain.plugins.api import TaskType
from rain.plugins.hookspecs import hookimpl


@hookimpl
def rain_task_types() -> list[TaskType]:
    return []
