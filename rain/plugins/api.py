"""What a task-type plugin sees: `TaskType`, the `task_type` decorator, `TaskContext`, `TaskError`.

This module imports nothing from the server or governor, so plugin packages depend only on
`rain.plugins` and `rain.common`.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from rain.common.attributes import TaskInfo, TaskSpec
from rain.common.data_instance import DataInstance
from rain.common.labeled_list import LabeledList

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-/]+$")


class TaskError(Exception):
    """An expected failure of a task: its message becomes the task's error, with no traceback."""


def _check_name(instance: Any, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"invalid task type name {value!r} (expected 'namespace/name')")


RunFunction = Callable[["TaskContext"], Awaitable[Sequence[DataInstance] | None]]


@attrs.frozen
class TaskType:
    """A governor-side task implementation.

    `run(ctx)` returns the output instances in the order of `ctx.spec.outputs` (or None when
    the task has no outputs or set them with `ctx.set_output`). Cancellation arrives as trio
    cancellation; anything other than `TaskError` raised by `run` fails the task with a traceback.
    """

    task_type: str = attrs.field(validator=_check_name)
    run: RunFunction
    cpus: int = 1
    doc: str = ""


def task_type(name: str, *, cpus: int = 1) -> Callable[[RunFunction], TaskType]:
    """Decorator: `@task_type("hash/sha256") async def sha256(ctx): ...` -> a TaskType."""

    def wrap(fn: RunFunction) -> TaskType:
        return TaskType(name, fn, cpus, (fn.__doc__ or "").strip())

    return wrap


class TaskContext(abc.ABC):
    """Everything a running task may use; one instance per task run."""

    spec: TaskSpec
    info: TaskInfo
    inputs: LabeledList[DataInstance]
    output_specs: list[Any]
    workdir: str

    @property
    def config(self) -> Any:
        return self.spec.config

    @abc.abstractmethod
    def debug(self, message: str, *args: Any) -> None:
        """Appends one line (`message % args`) to the task's `info.debug`."""

    @abc.abstractmethod
    def blob(self, data: bytes, content_type: str | None = None) -> DataInstance:
        """An output instance holding `data`."""

    @abc.abstractmethod
    def output_file(self, path: str, content_type: str | None = None) -> DataInstance:
        """An output instance made by moving the file at `path` (relative to `workdir`)."""

    @abc.abstractmethod
    def output_dir(self, path: str, content_type: str | None = None) -> DataInstance:
        """An output instance made by moving the directory at `path` (relative to `workdir`)."""

    @abc.abstractmethod
    def set_output(self, index: int | str, instance: DataInstance) -> None:
        """Sets one output by position or label (an alternative to returning the list)."""

    @abc.abstractmethod
    async def run_sync(self, fn: Callable[..., Any], *args: Any, cancellable: bool = True) -> Any:
        """Runs blocking `fn(*args)` in a worker thread so the governor keeps serving."""

    @abc.abstractmethod
    async def run_process(self, args: Sequence[str], **kwargs: Any) -> Any:
        """Runs a subprocess that is killed promptly (with its process group) on cancellation."""
