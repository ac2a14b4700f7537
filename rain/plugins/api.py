"""What a task-type plugin sees: `TaskType`, the `task_type` decorator, `TaskContext`, `TaskError`.

This module imports nothing from the server or governor, so plugin packages depend only on
`rain.plugins` and `rain.common`. Everything exported by `rain.plugins` is the stable plugin
author API described in docs/plugins.md.
"""

from __future__ import annotations

import abc
import inspect
import re
import subprocess
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import attrs

from rain.common.attributes import ObjectSpec, TaskInfo, TaskSpec
from rain.common.data_instance import DataInstance
from rain.common.labeled_list import LabeledList
from rain.common.resources import check_cpus
from rain.common.states import DataType

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-/]+$")
INPUT_KINDS = ("blob", "dir", "any")


class TaskError(Exception):
    """An expected failure of a task: its message becomes the task's error, with no traceback."""


class TaskCrashed(TaskError):
    """The process running the task died under it (killed by a signal, by the OOM killer): not
    the task's own error, so the server runs it again within its budget of strikes."""


def _check_name(instance: Any, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"invalid task type name {value!r} (expected 'namespace/name')")


def _check_run(instance: Any, attribute: Any, value: Any) -> None:
    is_async = inspect.iscoroutinefunction(value)
    wrong_kind = is_async if instance.inline else (inspect.isfunction(value) and not is_async)
    kind = "a plain (non-async) function" if instance.inline else "an async function"
    if not callable(value) or wrong_kind:
        raise TypeError(f"run of task type {instance.task_type!r} must be {kind}, got {value!r}")


def _check_cpus(instance: Any, attribute: Any, value: Any) -> None:
    check_cpus(value, f"cpus of task type {instance.task_type!r}")


def _input_kinds(value: Any) -> tuple[str, ...] | None:
    """Normalizes a declaration of accepted inputs (see `TaskType.inputs`)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"inputs must be a list of input kinds such as ['blob', 'dir', '*blob'], got {value!r}")
    kinds = tuple(str(k) if isinstance(k, DataType) else k for k in value)
    for i, kind in enumerate(kinds):
        star = isinstance(kind, str) and kind.startswith("*")
        if not isinstance(kind, str) or kind.removeprefix("*") not in INPUT_KINDS or (star and i != len(kinds) - 1):
            raise ValueError(f"invalid input kind {kind!r} in {list(kinds)!r}: each is 'blob', 'dir' or 'any', "
                             "and only the last may be starred ('*blob': any number of blobs)")
    return kinds


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def input_mismatch(task_type: str, declared: Sequence[str], data_types: Sequence[str],
                   labels: Sequence[Any] = ()) -> str | None:
    """Why inputs of the given data types ("blob"/"dir") do not fit `declared`, or None if they do.

    `labels` name the inputs in the message (the input's label, or its object's).

    The server calls this at submit and the governor again before `run`, so a plugin never sees
    inputs it did not ask for (a directory where it expects a blob would reach it as tar bytes).
    """
    fixed = [k for k in declared if not k.startswith("*")]
    rest = declared[-1][1:] if declared and declared[-1].startswith("*") else None
    if len(data_types) < len(fixed) or (rest is None and len(data_types) > len(fixed)):
        how = "at least" if rest is not None else "exactly"
        kinds = ", ".join(declared) or "none"
        return f"task type {task_type!r} takes {how} {_plural(len(fixed), 'input')} ({kinds}), got {len(data_types)}"
    for i, data_type in enumerate(data_types):
        want = fixed[i] if i < len(fixed) else rest
        if want != "any" and data_type != want:
            label = labels[i] if i < len(labels) else None
            name = f"input {i}" + (f" ({label!r})" if label is not None else "")
            return f"{name} is a {data_type}, but task type {task_type!r} takes a {want} there"
    return None


# An async function, or (for `inline` task types) a plain one; both return the outputs or None
# when they were set on the context.
RunFunction = (Callable[["TaskContext"], Awaitable[Sequence[DataInstance] | None]]
               | Callable[["TaskContext"], Sequence[DataInstance] | None])

# What a `start` function is told when its run ends: the outputs (as `run` returns them), or the
# exception that failed the task.
DoneCallback = Callable[[Sequence[DataInstance] | None, Exception | None], None]
# `start(ctx, done)`: begins a run without awaiting; returns how to cancel it, or None when it
# cannot begin now (the governor then awaits `run` instead).
StartFunction = Callable[["TaskContext", DoneCallback], Callable[[], None] | None]


@attrs.frozen
class TaskType:
    """A governor-side task implementation, returned by a plugin's `rain_task_types()` hook.

    - `task_type`: the name clients use, "namespace/name" (e.g. "hash/sha256"); unique across
      all plugins of a governor.
    - `run(ctx)`: an async function; returns the output instances in the order of the task's
      outputs (or None when the task has no outputs or set them with `ctx.set_output`).
      Cancellation arrives as trio cancellation. `TaskError` fails the task with its message;
      any other exception fails it with its type and message, the traceback goes to the
      task's `info.debug`.
    - `cpus`: how many CPUs the task type is meant to get. The client decides what a task
      requests (the server reserves that much before the governor sees the task), so this is
      the default the plugin's client-side helper should use (`PluginTask.CPUS`); `ctx.cpus`
      is what a running task really got.
    - `doc`: one paragraph for humans (the decorator takes the function's docstring).
    - `inline`: `run` is a plain function that does no I/O and returns within microseconds
      (joining small blobs, picking a field). The governor then calls it directly on its event
      loop when the inputs are in memory and a CPU is free, skipping the per-task trio task
      and cancel scope: on graphs of tiny tasks that overhead is larger than the work. With an
      input stored as a file it runs in a worker thread instead. An inline run cannot be
      cancelled midway, so anything that may take a millisecond on small data must stay async.
    - `inputs`: the inputs the task type accepts, one kind per input: "blob", "dir" or "any";
      the last may be starred for "any number of these" (`["dir", "*blob"]`: a dir, then any
      number of blobs). A submit whose task does not fit is refused, naming the task and the
      input. None (the default) accepts anything.
    - `start(ctx, done)`: optional, for task types that hand the work to another process and
      only wait for its answer (`py/call`). The governor calls it synchronously once the task
      has its CPUs and all its inputs are stored here, instead of giving the task a trio task
      and cancel scope of its own (on tiny tasks that costs more than the work). It must not
      block: it sends the work off and returns a `cancel` function, and some long-lived trio
      task of the plugin later calls `done(outputs, None)` or `done(None, exc)` exactly once,
      unless `cancel()` was called first (which must stop the work at once, e.g. kill the
      process). It returns None when it cannot start now (no idle worker): then `run` runs.
    """

    task_type: str = attrs.field(validator=_check_name)
    run: RunFunction = attrs.field(validator=_check_run)
    cpus: int = attrs.field(default=1, validator=_check_cpus)
    doc: str = ""
    inline: bool = attrs.field(default=False, kw_only=True)
    inputs: tuple[str, ...] | None = attrs.field(default=None, kw_only=True, converter=_input_kinds)
    start: StartFunction | None = attrs.field(default=None, kw_only=True)

    def check_inputs(self, inputs: Sequence[DataInstance], labels: Sequence[Any] = ()) -> None:
        """Raises `TaskError` when the inputs do not fit `inputs` (nothing to do when undeclared)."""
        if self.inputs is not None:
            problem = input_mismatch(self.task_type, self.inputs, [i.data_type.value for i in inputs], labels)
            if problem is not None:
                raise TaskError(problem)

    def checking_inputs(self) -> TaskType:
        """This task type with `run` preceded by `check_inputs`: what a governor runs.

        The server already refuses a mismatching submit; this covers tasks submitted while no
        governor (and so no declaration) was known.
        """
        if self.inputs is None:
            return self
        run, declared = self.run, self.inputs

        def check(ctx: TaskContext) -> None:  # labels are looked up only for the error message
            if input_mismatch(self.task_type, declared, [i.data_type.value for i in ctx.inputs]) is not None:
                self.check_inputs(ctx.inputs, [s.label if s.label is not None else (i.spec.label if i.spec else None)
                                           for s, i in zip(ctx.spec.inputs, ctx.inputs, strict=False)])

        if self.inline:
            def checked_inline(ctx: TaskContext) -> Any:
                check(ctx)
                return run(ctx)
            return attrs.evolve(self, run=checked_inline)

        async def checked(ctx: TaskContext) -> Any:
            check(ctx)
            return await cast(Awaitable[Any], run(ctx))

        start = self.start
        if start is None:
            return attrs.evolve(self, run=checked)

        def checked_start(ctx: TaskContext, done: DoneCallback) -> Callable[[], None] | None:
            check(ctx)
            return start(ctx, done)
        return attrs.evolve(self, run=checked, start=checked_start)


def task_type(name: str, *, cpus: int = 1, inline: bool = False,
              inputs: Sequence[str] | None = None) -> Callable[[RunFunction], TaskType]:
    """Decorator making a `TaskType` from its `run` function; the docstring becomes its `doc`.

    ::

        @task_type("hash/sha256", inputs=["blob"])
        async def sha256(ctx): ...
    """

    def wrap(fn: RunFunction) -> TaskType:
        return TaskType(name, fn, cpus, (fn.__doc__ or "").strip(), inline=inline, inputs=inputs)

    return wrap


class TaskContext(abc.ABC):
    """Everything a running task may use; one instance per task run.

    - `spec`: the task's `TaskSpec` (id, task_type, config, resources, name, user data).
    - `info`: the task's `TaskInfo`; `info.user` may be filled and is reported to the client.
    - `inputs`: the inputs as `DataInstance` objects, by position and by label (`ctx.inputs["label"]`).
    - `output_specs`: an `ObjectSpec` per output to produce (label, data_type, content_type).
    - `workdir`: a fresh empty scratch directory, created on first use, removed after the task.
    """

    spec: TaskSpec
    info: TaskInfo
    inputs: LabeledList[DataInstance]
    output_specs: list[ObjectSpec]
    workdir: str

    @property
    def config(self) -> Any:
        """The task's `config` as the client gave it (any CBOR-encodable value)."""
        return self.spec.config

    @property
    def cpus(self) -> int:
        """The CPUs reserved for this task (use that many threads or processes at most)."""
        return self.spec.cpus

    @abc.abstractmethod
    def debug(self, message: str, *args: Any) -> None:
        """Appends one line (`message % args`) to the task's `info.debug`."""

    def program_output(self, stdout: str, stderr: str) -> None:
        """Keeps the tails of a program's stdout and stderr for the dashboard's task inspector.

        They are not part of the task's info (clients do not receive them). The default keeps
        nothing."""
        return None

    @abc.abstractmethod
    def blob(self, data: bytes | str, content_type: str | None = None) -> DataInstance:
        """An output instance holding `data` (a str is UTF-8 encoded and typed "text")."""

    @abc.abstractmethod
    def output_file(self, path: str, content_type: str | None = None) -> DataInstance:
        """An output blob made from the file at `path` (relative to `workdir`); the file is moved."""

    @abc.abstractmethod
    def output_dir(self, path: str, content_type: str | None = None) -> DataInstance:
        """An output dir made from the directory at `path` (relative to `workdir`); it is moved."""

    @abc.abstractmethod
    def set_output(self, index: int | str, instance: DataInstance) -> None:
        """Sets one output by position or label (an alternative to returning the list)."""

    @abc.abstractmethod
    async def run_sync(self, fn: Callable[..., Any], *args: Any, cancellable: bool = True) -> Any:
        """Runs blocking `fn(*args)` in a worker thread so the governor keeps serving.

        A thread cannot be killed: on cancellation the task ends at once when `cancellable`
        (the thread is abandoned and runs on until `fn` returns, its result is dropped), or
        the task waits for `fn` to return when not. Long CPU-heavy work belongs in
        `run_process`.
        """

    @abc.abstractmethod
    async def run_process(self, args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        """Runs a subprocess (`trio.run_process` arguments) in `workdir` by default.

        On cancellation the process and its whole process group get SIGTERM, then SIGKILL
        after 50 ms. `check` defaults to False: look at `returncode` (and `stderr` when
        `capture_stderr=True`) and raise `TaskError` with a useful message.
        """
