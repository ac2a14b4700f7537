"""The built-in task types (`buildin/...`), registered like any other plugin."""

from __future__ import annotations

from rain.plugins.api import TaskType
from rain.plugins.builtin.basic import concat, sleep
from rain.plugins.builtin.directories import make_directory, slice_directory
from rain.plugins.builtin.files import export, open_dir, open_file
from rain.plugins.builtin.run import run
from rain.plugins.hookspecs import hookimpl


@hookimpl
def rain_task_types() -> list[TaskType]:
    return [concat, sleep, open_file, open_dir, export, make_directory, slice_directory, run]
