"""Python remote tasks (`py/call`): functions made with `rain.client.remote`, run in executors.

The governor side lives in `task` and `pool`; the executor process in `executor`, `invoke` and
`context`. The task type module is imported inside the hook, so an executor process (which
imports this package) does not pay for trio.
"""

from __future__ import annotations

from rain.plugins.api import TaskType
from rain.plugins.hookspecs import hookimpl


@hookimpl
def rain_task_types() -> list[TaskType]:
    from rain.plugins.python.task import PYTHON_CALL

    return [PYTHON_CALL]
