"""Writing a task-type plugin for Rain.

A plugin is a module with a `rain_task_types` hook returning `TaskType`s::

    from rain.plugins import TaskContext, hookimpl, task_type

    @task_type("hash/sha256")
    async def sha256(ctx: TaskContext):
        return [ctx.blob(hashlib.sha256(ctx.inputs[0].get_bytes()).hexdigest().encode())]

    @hookimpl
    def rain_task_types():
        return [sha256]

Installed packages advertise it with an entry point in their `pyproject.toml`::

    [project.entry-points."rain.plugins"]
    hash = "my_rain_hash_plugin"

or a governor loads it with `--plugin MODULE`. See docs/plugins.md.
"""

from rain.plugins.api import TaskContext, TaskError, TaskType, task_type
from rain.plugins.hookspecs import PROJECT_NAME, hookimpl, hookspec

__all__ = ["TaskContext", "TaskError", "TaskType", "task_type", "PROJECT_NAME", "hookimpl", "hookspec"]
