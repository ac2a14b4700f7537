"""Directory objects on disk and on the wire.

A "dir" data object is a directory tree; whenever it has to travel as bytes
(between governors, to the client, inside a submit) it is an uncompressed tar
archive with relative member names. This module packs and safely unpacks such
archives, and holds the file-tree helpers the store and tasks need: copying,
making trees read-only (linked inputs) and writable again, and removing them.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import IO

from rain.common.errors import RainException

StrPath = str | os.PathLike[str]

_WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def _normalize_member(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Drop owner details so an archive depends only on names, modes and contents."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_directory_tar(path: StrPath, fileobj: IO[bytes]) -> None:
    """Stream the tree at `path` as an uncompressed tar archive into `fileobj`.

    Member names are relative to `path` (the root itself is not a member); symlinks
    are followed, so the archive holds only directories and regular files.
    """
    root = os.fspath(path)
    if not os.path.isdir(root):
        raise RainException(f"cannot pack {root!r}: not a directory")
    with tarfile.open(
        fileobj=fileobj, mode="w|", dereference=True, format=tarfile.PAX_FORMAT
    ) as tf:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames.sort()
            rel = os.path.relpath(dirpath, root)
            if rel != ".":
                _add(tf, dirpath, rel)
            for name in sorted(filenames):
                _add(tf, os.path.join(dirpath, name), os.path.normpath(os.path.join(rel, name)))


def _add(tf: tarfile.TarFile, path: str, arcname: str) -> None:
    try:
        tf.add(path, arcname=arcname, recursive=False, filter=_normalize_member)
    except OSError as exc:
        raise RainException(f"cannot pack {path!r}: {exc}") from exc


def pack_directory(path: StrPath) -> bytes:
    """The tree at `path` as tar archive bytes (see `write_directory_tar`)."""
    buf = io.BytesIO()
    write_directory_tar(path, buf)
    return buf.getvalue()


def _safe_member(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's "data" filter, but keeping the permission bits of files and dirs."""
    name = member.name
    if name.startswith("/") or os.path.isabs(name) or ".." in PurePosixPath(name).parts:
        raise RainException(f"unsafe member {name!r} in directory archive")
    try:
        filtered = tarfile.data_filter(member, dest)
    except tarfile.FilterError as exc:
        raise RainException(f"unsafe member {name!r} in directory archive: {exc}") from exc
    if filtered is not None and (member.isreg() or member.isdir()):
        filtered = filtered.replace(mode=member.mode & 0o777, deep=False)
    return filtered


def unpack_directory(data_or_fileobj: bytes | IO[bytes], target: StrPath) -> None:
    """Extract a directory archive into `target`, which must not exist or be empty.

    Absolute names, `..` components, links leaving the target and special files
    are refused with RainException; on failure a target created here is removed.
    """
    dest = os.fspath(target)
    created = False
    if os.path.lexists(dest):
        if not os.path.isdir(dest) or os.path.islink(dest) or os.listdir(dest):
            raise RainException(f"cannot unpack a directory into {dest!r}: path exists")
    else:
        os.makedirs(dest)
        created = True
    fileobj = (
        io.BytesIO(data_or_fileobj)
        if isinstance(data_or_fileobj, (bytes, bytearray, memoryview))
        else data_or_fileobj
    )
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as tf:
            tf.extractall(dest, filter=_safe_member)
    except BaseException as exc:
        if created:
            remove_tree(dest)
        else:
            for name in os.listdir(dest):
                remove_tree(os.path.join(dest, name))
        if isinstance(exc, tarfile.TarError):
            raise RainException(f"invalid directory archive: {exc}") from exc
        raise


def copy_tree(src: StrPath, dst: StrPath) -> None:
    """Copy a tree (or a single file) keeping modes; `dst` must not exist."""
    src_s, dst_s = os.fspath(src), os.fspath(dst)
    if os.path.lexists(dst_s):
        raise RainException(f"cannot copy to {dst_s!r}: path exists")
    if os.path.isdir(src_s):
        shutil.copytree(src_s, dst_s, symlinks=False)
    else:
        shutil.copy2(src_s, dst_s)


def _chmod_tree(path: str, change: Callable[[int, bool], int]) -> None:
    """Apply `change(mode, is_dir)` to `path` and everything below it.

    Each directory is changed before it is listed (so adding permissions lets us
    descend); symlinks below the root are skipped, never followed.
    """
    st = os.stat(path)
    is_dir = stat.S_ISDIR(st.st_mode)
    os.chmod(path, change(stat.S_IMODE(st.st_mode), is_dir))
    if not is_dir:
        return
    with os.scandir(path) as entries:
        children = [e.path for e in entries if not e.is_symlink()]
    for child in children:
        _chmod_tree(child, change)


def make_read_only(path: StrPath) -> None:
    """Remove all write bits from the file or tree at `path`."""
    _chmod_tree(os.fspath(path), lambda mode, is_dir: mode & ~_WRITE_BITS)


def make_writable(path: StrPath) -> None:
    """Give the owner write access (and, for dirs, read+search) over the whole tree."""

    def change(mode: int, is_dir: bool) -> int:
        if is_dir:
            return mode | stat.S_IRWXU
        return mode | stat.S_IWUSR

    _chmod_tree(os.fspath(path), change)


def remove_tree(path: StrPath) -> None:
    """Remove a file, symlink (not its target) or tree, even a read-only one."""
    p = os.fspath(path)
    if not os.path.lexists(p):
        return
    if os.path.islink(p) or not os.path.isdir(p):
        os.unlink(p)
        return
    make_writable(p)
    shutil.rmtree(p)


def tree_size(path: StrPath) -> int:
    """Total size in bytes of the regular files in a tree (or of a single file)."""
    p = os.fspath(path)
    if not os.path.isdir(p):
        return os.path.getsize(p)
    total = 0
    for dirpath, _dirnames, filenames in os.walk(p, followlinks=True):
        for name in filenames:
            total += os.path.getsize(os.path.join(dirpath, name))
    return total
