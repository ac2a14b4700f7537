"""The concrete `TaskContext` a governor hands to a task type's `run`.

The documented behaviour lives on the abstract `rain.plugins.api.TaskContext`; this class adds
what the runner needs around it (collected outputs, debug text, scratch-dir cleanup).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

import trio

from rain.common.attributes import ObjectSpec, TaskInfo, TaskSpec
from rain.common.data_instance import DataInstance
from rain.common.dirtar import remove_tree
from rain.common.labeled_list import LabeledList
from rain.plugins.api import TaskContext, TaskError

KILL_GRACE = 0.05


async def kill_process_group(process: trio.Process) -> None:
    """deliver_cancel for trio.run_process: SIGTERM the whole group, SIGKILL after 50 ms."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        if wait is None:
            break
        with trio.move_on_after(wait):
            await process.wait()
            return
    await process.wait()


class GovernorTaskContext(TaskContext):
    def __init__(self, spec: TaskSpec, output_specs: list[ObjectSpec], tasks_dir: str) -> None:
        self.spec = spec
        self.info = TaskInfo()
        self.output_specs = output_specs
        self.inputs = LabeledList()
        self.outputs: list[DataInstance | None] = [None] * len(output_specs)
        self._debug: list[str] = []
        self._tasks_dir = tasks_dir
        self._workdir: str | None = None
        self.output_tails: dict[str, str] | None = None

    @property
    def workdir(self) -> str:  # type: ignore[override]
        """A fresh empty scratch directory, created on first use and removed after the task."""
        if self._workdir is None:
            self._workdir = os.path.join(self._tasks_dir, f"{self.spec.id.session_id}-{self.spec.id.id}")
            if os.path.exists(self._workdir):
                remove_tree(self._workdir)
            os.makedirs(self._workdir)
        return self._workdir

    @property
    def debug_text(self) -> str:
        return "\n".join(self._debug)

    def debug(self, message: str, *args: Any) -> None:
        self._debug.append(message % args if args else str(message))

    def program_output(self, stdout: str, stderr: str) -> None:
        tails = {name: text for name, text in (("stdout", stdout), ("stderr", stderr)) if text}
        self.output_tails = tails or None

    def _path(self, path: str) -> str:
        root = os.path.abspath(self.workdir)
        full = os.path.normpath(os.path.join(root, path))
        if os.path.commonpath([root, full]) != root or full == root:
            raise TaskError(f"output path {path!r} is not inside the task's workdir")
        if not os.path.lexists(full):
            raise TaskError(f"output path {path!r} does not exist")
        return full

    def blob(self, data: bytes | str, content_type: str | None = None) -> DataInstance:
        if isinstance(data, str):
            data, content_type = data.encode(), content_type or "text"
        return DataInstance("blob", data=bytes(data), content_type=content_type)

    def output_file(self, path: str, content_type: str | None = None) -> DataInstance:
        full = self._path(path)
        if not os.path.isfile(full):
            raise TaskError(f"output path {path!r} is not a file")
        return DataInstance("blob", path=full, content_type=content_type)

    def output_dir(self, path: str, content_type: str | None = None) -> DataInstance:
        full = self._path(path)
        if not os.path.isdir(full):
            raise TaskError(f"output path {path!r} is not a directory")
        return DataInstance("dir", path=full, content_type=content_type)

    def set_output(self, index: int | str, instance: DataInstance) -> None:
        if isinstance(index, str):
            labels = [s.label for s in self.output_specs]
            if index not in labels:
                raise TaskError(f"unknown output label {index!r} (outputs: {labels})")
            index = labels.index(index)
        self.outputs[index] = instance

    async def run_sync(self, fn: Callable[..., Any], *args: Any, cancellable: bool = True) -> Any:
        return await trio.to_thread.run_sync(fn, *args, abandon_on_cancel=cancellable)

    async def run_process(self, args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        kwargs.setdefault("cwd", self.workdir)
        kwargs.setdefault("check", False)
        return await trio.run_process(args, start_new_session=True, deliver_cancel=kill_process_group, **kwargs)

    def cleanup(self) -> None:
        if self._workdir is not None and os.path.exists(self._workdir):
            remove_tree(self._workdir)
