"""The concrete `TaskContext` a governor hands to a task type's `run`.

The documented behaviour lives on the abstract `rain.plugins.api.TaskContext`; this class adds
what the runner needs around it (collected outputs, debug text, scratch-dir cleanup).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import trio

from rain.common.attributes import ObjectSpec, TaskInfo, TaskSpec
from rain.common.data_instance import DataInstance
from rain.common.dirtar import remove_tree
from rain.common.labeled_list import LabeledList
from rain.common.leases import Lease
from rain.core.governor.spawn import kill_process_group, run_program
from rain.core.governor.store import StoredObject
from rain.plugins.api import TaskContext, TaskError


def _needs_pipes(kwargs: dict[str, Any]) -> bool:
    """Whether a `run_process` call feeds or captures data (trio's path) or only waits."""
    if kwargs.get("capture_stdout") or kwargs.get("capture_stderr") or kwargs.get("check"):
        return True
    stdin = kwargs.get("stdin")
    return (isinstance(stdin, (bytes, bytearray)) or stdin == subprocess.PIPE
            or kwargs.get("stdout") == subprocess.PIPE or kwargs.get("stderr") == subprocess.PIPE)


class GovernorTaskContext(TaskContext):
    def __init__(self, spec: TaskSpec, output_specs: list[ObjectSpec], tasks_dir: str) -> None:
        self.spec = spec
        self.info = TaskInfo()
        self.output_specs = output_specs
        self.inputs = LabeledList()
        self.outputs: list[DataInstance | None] = [None] * len(output_specs)
        self.debug_lines: list[str] = []  # what `debug` logged (`debug_text` joins them)
        self._tasks_dir = tasks_dir
        self._workdir: str | None = None
        self._reuse_workdir = True
        self.output_tails: dict[str, str] | None = None
        self.task_row: Any = None  # the task's row as the server sent it (rows.TaskRow), to forward as is
        self._lease: Lease | None = None

    @property
    def lease(self) -> Lease:
        """The inodes its inputs' hard-link trees hold, released in `cleanup`; made on first use
        (most tasks link no tree: their inputs are in memory)."""
        if self._lease is None:
            self._lease = Lease()
        return self._lease

    def add_input(self, stored: StoredObject, label: str | None) -> None:
        """Appends a stored object as the next input; only data held as a file or tree can be
        linked into one, so only that takes the task's lease."""
        self.inputs.append(stored.instance(self.lease if stored.path is not None else None), label=label)

    @property
    def workdir(self) -> str:  # type: ignore[override]
        """A fresh empty scratch directory, created on first use and removed after the task."""
        if self._workdir is None:
            self._workdir = ScratchDirs.of(self._tasks_dir).take()
        return self._workdir

    @property
    def debug_text(self) -> str:
        return "\n".join(self.debug_lines)

    def debug(self, message: str, *args: Any) -> None:
        self.debug_lines.append(message % args if args else str(message))

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
        if _needs_pipes(kwargs):
            kwargs.setdefault("check", False)
            return await trio.run_process(args, start_new_session=True, deliver_cancel=kill_process_group, **kwargs)
        finished = await run_program(args, **kwargs)
        if finished.leftovers:  # a background job may still write into the scratch dir
            self._reuse_workdir = False
        return finished

    def cleanup(self) -> None:
        """Removes the scratch dir, and only then releases the inodes its input trees leased."""
        try:
            if self._workdir is not None:
                ScratchDirs.of(self._tasks_dir).give_back(self._workdir, self._reuse_workdir)
                self._workdir = None
        finally:
            if self._lease is not None:
                self._lease.release()


class ScratchDirs:
    """The tasks' scratch directories under a governor's tasks dir, reused once emptied.

    Creating and removing a directory allocates and frees a block, which on a busy ext4 costs
    milliseconds (the journal is shared with every other writer), more than starting a tiny
    program. So a scratch dir that a task left holding only files and empty directories (a
    program's run dir, stdout, stderr once the outputs moved to the store) is emptied in one
    pass and handed to the next task; anything else is removed with `remove_tree`, which also
    copes with read-only directories. There is one pool per tasks dir (`of`), which the
    governor that owns that dir alone uses.
    """

    KEEP = 64  # empty dirs kept at most; more would only be left over by a burst of tasks
    _pools: ClassVar[dict[str, ScratchDirs]] = {}

    def __init__(self, root: str) -> None:
        self._root = root
        self._free: list[str] = []
        self._made = 0

    @classmethod
    def of(cls, root: str) -> ScratchDirs:
        pool = cls._pools.get(root)
        if pool is None:
            pool = cls._pools[root] = cls(root)
        return pool

    def take(self) -> str:
        if self._free:
            return self._free.pop()
        self._made += 1
        path = os.path.join(self._root, f"w{self._made}")
        try:
            os.mkdir(path)
        except FileExistsError:  # left over by a governor killed while running a task
            remove_tree(path)
            os.mkdir(path)
        except FileNotFoundError:
            os.makedirs(path)
        return path

    def give_back(self, path: str, reusable: bool = True) -> None:
        """Keeps `path` for the next task if it can be emptied quickly; `reusable` False when
        something other than the task may still write into it."""
        if reusable and len(self._free) < self.KEEP and _empty_out(path):
            self._free.append(path)
        else:
            remove_tree(path)


def _empty_out(path: str) -> bool:
    """Empties a dir holding only files and empty directories, in one pass; False when it needs
    the full, permission-fixing `remove_tree` (deeper trees, read-only or changed directories)."""
    try:
        if os.stat(path).st_mode & 0o7777 != _DIR_MODE:
            return False
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    os.rmdir(entry.path)
                else:
                    os.unlink(entry.path)
    except OSError:
        return False
    return True


def _dir_mode() -> int:
    """The mode `os.mkdir` gives a new directory (umask is read once, at import, by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o777 & ~mask


_DIR_MODE = _dir_mode()
