"""An example Rain task-type plugin, the walk-through of docs/plugins.md.

The package has two halves:

- this module is the governor side: the `rain_task_types` hook, found through the entry point
  `example = "rain_example_plugin"` in pyproject.toml; the task types live in `tasks.py`;
- `rain_example_plugin.client` is the client side: one `PluginTask` class per task type.
"""

from __future__ import annotations

from rain.plugins import TaskType, hookimpl
from rain_example_plugin import tasks


@hookimpl
def rain_task_types() -> list[TaskType]:
    return [tasks.sha256, tasks.word_count, tasks.split_lines, tasks.fail, tasks.wait, tasks.sleep_process]
