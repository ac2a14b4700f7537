"""`PluginTask`: the base of client-side classes that a task-type plugin ships for its users.

A plugin package puts its governor side (the `rain_task_types` hook) and its client side in
one package; the client side is a few lines per task type::

    from rain.client.plugin_tasks import PluginTask

    class Sha256(PluginTask):
        \"\"\"Hex SHA-256 digest of one blob.\"\"\"
        TASK_TYPE = "hash/sha256"

        def __init__(self, data, **kwargs):
            super().__init__([data], **kwargs)

    # user code
    digest = Sha256(blob(b"abc")).output

The class attributes are defaults a call may override: `CPUS` (keep it equal to the governor
side's `TaskType.cpus`) and `OUTPUTS` (what `Task` takes as `outputs`: a count, labels or
`Output`/`OutputDir` specs). Importing the client side must not need the governor side's
dependencies, so it only names the task type by its string.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rain.client.task import Task
from rain.common.errors import RainException


class PluginTask(Task):
    """A `Task` whose task type, default CPUs and default outputs are class attributes."""

    TASK_TYPE: ClassVar[str]
    CPUS: ClassVar[int] = 1
    OUTPUTS: ClassVar[Any] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        task_type = getattr(cls, "TASK_TYPE", None)
        if not isinstance(task_type, str) or "/" not in task_type:
            raise TypeError(f"{cls.__qualname__}.TASK_TYPE must be a 'namespace/name' string, got {task_type!r}")

    def __init__(self, inputs: Iterable[Any] = (), outputs: Any = None, *, config: Any = None,
                 cpus: int | None = None, **kwargs: Any) -> None:
        if type(self) is PluginTask:
            raise RainException("PluginTask is a base class; subclass it with a TASK_TYPE")
        super().__init__(inputs, self.OUTPUTS if outputs is None else outputs, config=config,
                         cpus=self.CPUS if cpus is None else cpus, **kwargs)
