"""File-tree helpers for dir objects on disk: checking, copying, linking, protecting, removing.

A stored dir object is a tree of directories and regular files only (symlinks that stay inside
the tree are tolerated); `check_tree` enforces that wherever a tree becomes an object. Trees are
made read-only in the store, and tasks get either a private writable copy (`copy_tree`) or a
read-only hard-link tree (`link_tree`, see the figures in its docstring).
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable

from rain.common.errors import RainException
from rain.common.leases import REGISTRY, Key, Lease

StrPath = str | os.PathLike[str]

WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
LINK_BATCH = 256  # files linked per hold of the lease lock, which the event loop also takes


def is_inside(path: str, root: str) -> bool:
    """Whether `path` is `root` or below it (both already resolved)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def special_kind(mode: int) -> str | None:
    """The name of a file type a dir object may not hold, None for dirs, files and links."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
        return None
    for test, name in ((stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def check_tree(path: StrPath) -> None:
    """Refuses (RainException) a tree holding devices, fifos, sockets or symlinks that resolve
    outside of it: such a tree cannot be a dir object."""
    root = os.path.realpath(os.fspath(path))
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, root)
            kind = special_kind(st.st_mode)
            if kind is not None:
                raise RainException(f"directory {os.fspath(path)!r} holds a {kind} {rel!r}, "
                                    "which a dir object cannot contain")
            if stat.S_ISLNK(st.st_mode) and not is_inside(os.path.realpath(full), root):
                raise RainException(f"directory {os.fspath(path)!r} holds a symlink {rel!r} "
                                    f"pointing outside of it (to {os.readlink(full)!r})")


def copy_tree(src: StrPath, dst: StrPath) -> None:
    """Copy a tree (or a single file) keeping modes; `dst` must not exist."""
    src_s, dst_s = os.fspath(src), os.fspath(dst)
    if os.path.lexists(dst_s):
        raise RainException(f"cannot copy to {dst_s!r}: path exists")
    if os.path.isdir(src_s):
        shutil.copytree(src_s, dst_s, symlinks=False)
    else:
        shutil.copy2(src_s, dst_s)


def _link_or_copy(files: list[tuple[str, str, Key]], lease: Lease | None) -> None:
    for src, dst in REGISTRY.link(files, lease):  # leased by another reader, or not linkable
        shutil.copy2(src, dst)


def link_tree(src: StrPath, dst: StrPath, lease: Lease | None = None) -> None:
    """A read-only view of a stored tree at `dst`: real directories, files hard-linked.

    Tools that do not follow symlinks (find, tar, rsync) see the whole content, and the cost is
    one mkdir per directory and one link per file, independent of the data size. Measured with
    `python bench/dir_inputs.py` (ext4, 2 CPUs, median of 5; milliseconds):

        tree                         symlink  hard-link tree    copy  read-only copy  reflink
        10 files x 1 KiB                0.01            0.26    0.71            0.85      n/a
        2,000 files x 50 KiB            0.01           73      1415            3657       n/a
        1 file x 200 MiB                0.00            0.19    295             241       n/a

    A symlink is cheapest but is not a directory (find and tar do not descend into it). Reflinks
    are not available on ext4, overlayfs or tmpfs and would still cost a syscall per file. Small
    blob inputs are held in memory and written once as a read-only file, as before.

    The files share their inodes with the store, which keeps them read-only: a task (even root,
    which runs programs without CAP_DAC_OVERRIDE) gets EACCES when it writes one. The new
    directories are the task's own and writable by their owner: adding, renaming or removing
    entries there (`sed -i`, `tar -x` of an archive made from them) leaves the store untouched.

    A reader passes its `lease` (`rain.common.leases`): the linked inodes are leased to it until
    it releases them, after its tree is removed. While they are, no other tree links them (a
    file another reader holds is copied instead, read-only like the stored one), so no file a
    reader sees changes its link count or ctime because other tasks start or end. Without a
    lease (trees that become stored objects) only inodes no reader holds are linked.
    """
    src_s, dst_s = os.fspath(src), os.fspath(dst)
    if os.path.lexists(dst_s):
        raise RainException(f"cannot link to {dst_s!r}: path exists")
    st = os.stat(src_s)
    if not stat.S_ISDIR(st.st_mode):
        _link_or_copy([(src_s, dst_s, (st.st_dev, st.st_ino))], lease)
        return
    _link_dir(src_s, dst_s, st, lease)


def _link_dir(src: str, dst: str, st: os.stat_result, lease: Lease | None) -> None:
    os.mkdir(dst, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)
    files = []
    with os.scandir(src) as entries:
        for entry in entries:
            target = os.path.join(dst, entry.name)
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), target)
            elif entry.is_dir():
                _link_dir(entry.path, target, entry.stat(), lease)
            else:
                files.append((entry.path, target, (st.st_dev, entry.inode())))
                if len(files) == LINK_BATCH:
                    _link_or_copy(files, lease)
                    files = []
    _link_or_copy(files, lease)


def _chmod_tree(path: str, change: Callable[[int, bool], int], files: bool = True) -> None:
    """Apply `change(mode, is_dir)` to `path` and everything below it.

    Each directory is changed before it is listed (so adding permissions lets us
    descend); symlinks below the root are skipped, never followed. With `files=False`
    only directories change.
    """
    st = os.stat(path)
    is_dir = stat.S_ISDIR(st.st_mode)
    if is_dir or files:
        mode = stat.S_IMODE(st.st_mode)
        new_mode = change(mode, is_dir)
        if new_mode != mode:  # a chmod changes the ctime even when the mode stays: readers see it
            os.chmod(path, new_mode)
    if not is_dir:
        return
    with os.scandir(path) as entries:
        children = [e.path for e in entries if not e.is_symlink() and (files or e.is_dir(follow_symlinks=False))]
    for child in children:
        _chmod_tree(child, change, files)


def make_read_only(path: StrPath, files: bool = True) -> None:
    """Remove all write bits from the file or tree at `path` (only from dirs: `files=False`)."""
    _chmod_tree(os.fspath(path), lambda mode, is_dir: mode & ~WRITE_BITS, files)


def make_writable(path: StrPath) -> None:
    """Give the owner write access (and, for dirs, read+search) over the whole tree."""

    def change(mode: int, is_dir: bool) -> int:
        if is_dir:
            return mode | stat.S_IRWXU
        return mode | stat.S_IWUSR

    _chmod_tree(os.fspath(path), change)


def _make_dirs_writable(path: str) -> None:
    _chmod_tree(path, lambda mode, is_dir: mode | stat.S_IRWXU, files=False)


def remove_tree(path: StrPath) -> None:
    """Remove a file, symlink (not its target) or tree, even a read-only one.

    Only directories are made writable first: unlinking needs write access to the directory,
    not to the file, and a file may be a hard link shared with the store, whose mode must stay.
    """
    p = os.fspath(path)
    if not os.path.lexists(p):
        return
    if os.path.islink(p) or not os.path.isdir(p):
        os.unlink(p)
        return
    _make_dirs_writable(p)
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
