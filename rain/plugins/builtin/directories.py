"""`buildin/make_directory` and `buildin/slice_directory`: building and cutting dir objects.

Both only rearrange data that is already in the store, so files are hard-linked rather than
copied whenever possible (the store keeps them read-only, so sharing inodes is safe). The path
helpers here are shared with `buildin/run`, which maps inputs and outputs to relative paths too.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from typing import Any

from rain.common import dirtar
from rain.common.data_instance import DataInstance
from rain.plugins.api import TaskContext, TaskError, task_type


def relative_path(path: Any, what: str, allow_base: bool = False) -> str:
    """`path` normalized and checked to stay inside a directory ('' when `allow_base` and it is the base)."""
    if not isinstance(path, str):
        raise TaskError(f"{what} must be a string, got {path!r}")
    if posixpath.isabs(path):
        raise TaskError(f"{what} {path!r} must be relative")
    norm = posixpath.normpath(path) if path else "."
    if norm == "." and allow_base:
        return ""
    if norm == "." or norm == ".." or norm.startswith("../"):
        raise TaskError(f"{what} {path!r} points outside of the directory")
    return norm


def link_or_copy_file(src: str, dst: str) -> str:
    """Hard-links `src` to `dst` (same filesystem, shared read-only data), else copies it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def link_or_copy_tree(src: str, dst: str) -> None:
    """Files hard-linked, directories new and writable by us (a read-only directory could not
    be moved into the store, nor merged into, by a governor that does not run as root)."""
    if os.path.isdir(src):
        dirtar.link_tree(src, dst)
    else:
        link_or_copy_file(src, dst)


def place_instance(instance: DataInstance, target: str) -> None:
    """Puts the data of `instance` at `target` (which must not exist), sharing files if possible."""
    if instance.path is not None:
        link_or_copy_tree(instance.path, target)
    else:
        instance.write(target)


def _merge(src: str, dst: str, rel: str) -> None:
    """Merges tree `src` into `dst`: directories join, any other clash is an error."""
    if not os.path.lexists(dst):
        link_or_copy_tree(src, dst)
        return
    if not (os.path.isdir(src) and not os.path.islink(src) and os.path.isdir(dst) and not os.path.islink(dst)):
        raise TaskError(f"path {rel or '.'!r} is given by more than one input")
    for name in sorted(os.listdir(src)):
        _merge(os.path.join(src, name), os.path.join(dst, name), posixpath.join(rel, name))


def _build_directory(root: str, paths: list[str], inputs: list[DataInstance]) -> None:
    os.makedirs(root)
    for rel, inst in zip(paths, inputs, strict=True):
        target = os.path.join(root, rel) if rel else root
        parent = os.path.dirname(target)
        try:
            os.makedirs(parent, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise TaskError(f"path {rel!r}: a parent of it is a file given by another input") from None
        if inst.data_type.value == "blob":
            if os.path.lexists(target):
                raise TaskError(f"path {rel!r} is given by more than one input")
            place_instance(inst, target)
        elif inst.path is not None:
            _merge(inst.path, target, rel)
        else:
            tmp = root + ".unpack"
            inst.write(tmp)
            try:
                _merge(tmp, target, rel)
            finally:
                dirtar.remove_tree(tmp)


@task_type("buildin/make_directory")
async def make_directory(ctx: TaskContext) -> list[DataInstance]:
    """Builds a dir object: config is a list of relative paths, one per input (dirs merge)."""
    paths = ctx.config
    if not isinstance(paths, list) or len(paths) != len(ctx.inputs):
        raise TaskError(f"make_directory needs one path per input ({len(ctx.inputs)}), got {paths!r}")
    inputs = list(ctx.inputs)
    checked = []
    for path, inst in zip(paths, inputs, strict=True):
        rel = relative_path(path, "path", allow_base=inst.data_type.value == "dir")
        checked.append(rel)
    await ctx.run_sync(_build_directory, os.path.join(ctx.workdir, "dir"), checked, inputs)
    return [ctx.output_dir("dir")]


def _slice(root: str, path: str, want_dir: bool, target: str) -> None:
    rel = relative_path(path.rstrip("/") if want_dir else path, "path", allow_base=want_dir)
    src = os.path.join(root, rel) if rel else root
    real_root = os.path.realpath(root)
    real = os.path.realpath(src)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise TaskError(f"path {path!r} points outside of the directory")
    if want_dir:
        if not os.path.isdir(src):
            raise TaskError(f"path {path!r} is not a directory in the input")
    elif not os.path.isfile(src):
        kind = "a directory (add '/' to slice a subtree)" if os.path.isdir(src) else "not a file"
        raise TaskError(f"path {path!r} is {kind} in the input")
    link_or_copy_tree(real, target)


@task_type("buildin/slice_directory", inputs=["dir"])
async def slice_directory(ctx: TaskContext) -> list[DataInstance]:
    """Extracts a file (a blob) or, when the path ends with '/', a subtree (a dir) of a dir object."""
    config = ctx.config
    path = config.get("path") if isinstance(config, dict) else None
    if not isinstance(path, str):
        raise TaskError(f"slice_directory needs config {{'path': str}}, got {config!r}")
    if len(ctx.inputs) != 1 or ctx.inputs[0].data_type.value != "dir":
        raise TaskError("slice_directory needs exactly one dir input")
    inst = ctx.inputs[0]
    root = inst.path
    if root is None:
        root = os.path.join(ctx.workdir, "input")
        inst.write(root)
    want_dir = path.endswith("/")
    await ctx.run_sync(_slice, root, path, want_dir, os.path.join(ctx.workdir, "slice"))
    return [ctx.output_dir("slice") if want_dir else ctx.output_file("slice")]
