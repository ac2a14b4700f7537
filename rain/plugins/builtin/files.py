"""`buildin/open`, `buildin/open_dir` and `buildin/export`: the governor's own filesystem.

These are the only built-ins that touch paths outside the store, so paths must be absolute
(a relative path would depend on the governor's cwd) and user files are always copied, never
linked or moved: the store makes its data read-only, which must not leak onto the user's files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from rain.common.data_instance import DataInstance
from rain.common.errors import RainException
from rain.plugins.api import TaskContext, TaskError, task_type


def absolute_path(config: Any, task: str) -> str:
    path = config.get("path") if isinstance(config, dict) else None
    if not isinstance(path, str) or not path:
        raise TaskError(f"{task} needs config {{'path': str}}, got {config!r}")
    if not os.path.isabs(path):
        raise TaskError(f"path {path!r} is not absolute")
    return path


def _copy_in(src: str, dst: str, want_dir: bool) -> None:
    if not os.path.exists(src):
        raise TaskError(f"path {src!r} does not exist")
    if want_dir and not os.path.isdir(src):
        raise TaskError(f"path {src!r} is not a directory")
    if not want_dir and not os.path.isfile(src):
        raise TaskError(f"path {src!r} is not a file" + (" (use LoadDir)" if os.path.isdir(src) else ""))
    try:
        if want_dir:
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)
    except (OSError, shutil.Error) as exc:
        raise TaskError(f"cannot read {src!r}: {exc}") from None


@task_type("buildin/open", inputs=[])
async def open_file(ctx: TaskContext) -> list[DataInstance]:
    """Copies a file at an absolute path on the governor into a blob."""
    path = absolute_path(ctx.config, "open")
    await ctx.run_sync(_copy_in, path, os.path.join(ctx.workdir, "data"), False)
    return [ctx.output_file("data")]


@task_type("buildin/open_dir", inputs=[])
async def open_dir(ctx: TaskContext) -> list[DataInstance]:
    """Copies a directory at an absolute path on the governor into a dir object."""
    path = absolute_path(ctx.config, "open_dir")
    await ctx.run_sync(_copy_in, path, os.path.join(ctx.workdir, "data"), True)
    return [ctx.output_dir("data")]


def _export(inst: DataInstance, path: str) -> None:
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise TaskError(f"directory {parent!r} does not exist")
    try:
        if inst.data_type.value == "dir":
            if os.path.lexists(path):
                raise TaskError(f"path {path!r} already exists")
            inst.write(path)
            return
        if os.path.isdir(path):
            raise TaskError(f"path {path!r} is a directory")
        # Written next to the target and renamed, so readers never see a half-written file.
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".rain-export-")
        try:
            with os.fdopen(fd, "wb") as f:
                if inst.path is not None:
                    with open(inst.path, "rb") as src:
                        shutil.copyfileobj(src, f, 1 << 20)
                else:
                    f.write(inst.data or b"")
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except (OSError, RainException) as exc:
        raise TaskError(f"cannot write {path!r}: {exc}") from None


def _read_umask() -> int:
    # os.umask can only be read by setting it, which races with other threads creating files;
    # so it is read once, while the plugin is imported at governor start.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@task_type("buildin/export", inputs=["any"])
async def export(ctx: TaskContext) -> list[DataInstance]:
    """Writes its input to an absolute path: a blob as a file, a dir object as a new directory."""
    path = absolute_path(ctx.config, "export")
    if len(ctx.inputs) != 1:
        raise TaskError(f"export needs exactly one input, got {len(ctx.inputs)}")
    await ctx.run_sync(_export, ctx.inputs[0], path)
    return []
