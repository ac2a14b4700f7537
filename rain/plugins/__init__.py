"""Writing a task-type plugin for Rain (the full guide is docs/plugins.md).

A plugin is a module with a `rain_task_types` hook returning `TaskType`s::

    import hashlib
    from rain.plugins import TaskContext, hookimpl, task_type

    @task_type("hash/sha256")
    async def sha256(ctx: TaskContext):
        data = ctx.inputs[0].get_bytes()
        digest = await ctx.run_sync(lambda: hashlib.sha256(data).hexdigest())  # a worker thread
        return [ctx.blob(digest.encode(), content_type="text")]

    @hookimpl
    def rain_task_types():
        return [sha256]

Installed packages advertise it with an entry point in their `pyproject.toml`::

    [project.entry-points."rain.plugins"]
    hash = "my_rain_hash_plugin"

or a governor loads it with `--plugin MODULE` or `plugins = ["MODULE"]` in its `--config` file.
Users call it with `Task(inputs, task_type="hash/sha256")`, or with a class the package ships
(`rain.client.plugin_tasks.PluginTask` subclass with `TASK_TYPE = "hash/sha256"`).

This package's exports are the stable author API: `TaskType`, `task_type`, `TaskContext`,
`TaskError`, `hookimpl` (and `hookspec`, `PROJECT_NAME` for the hook definitions).
"""

from rain.plugins.api import TaskContext, TaskError, TaskType, task_type
from rain.plugins.hookspecs import PROJECT_NAME, hookimpl, hookspec

__all__ = ["PROJECT_NAME", "TaskContext", "TaskError", "TaskType", "hookimpl", "hookspec", "task_type"]
