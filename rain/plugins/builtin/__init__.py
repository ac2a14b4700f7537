"""The built-in task types (`buildin/...`), registered like any other plugin."""

from __future__ import annotations

from rain.plugins.api import TaskType
from rain.plugins.builtin.basic import concat, sleep
from rain.plugins.hookspecs import hookimpl


@hookimpl
def rain_task_types() -> list[TaskType]:
    return [concat, sleep]
