"""Directory objects on the wire: tar archives, packed and safely unpacked.

A "dir" data object is a directory tree; whenever it has to travel as bytes (between
governors, to the client, inside a submit) it is an uncompressed tar archive with relative
member names. Archives come from other machines, so unpacking trusts nothing: absolute names,
`..` components, devices, fifos and links leading out of the directory are refused with a
`RainException` naming the member, both when a tree is packed and when an archive is unpacked.

Unpacking uses tarfile's "data" filter where the running Python has it (3.11.4+, 3.12+) and an
equivalent extraction of our own elsewhere (Debian 12 ships 3.11.2); both end with a check that
every symlink created resolves inside the target, since a later member can change where an
earlier link points. The file-tree helpers live in `rain.common.trees` and are re-exported here.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
from pathlib import PurePosixPath
from typing import IO

from rain.common.errors import RainException
from rain.common.trees import (
    StrPath,
    check_tree,
    copy_tree,
    is_inside,
    link_tree,
    make_read_only,
    make_writable,
    remove_tree,
    special_kind,
    tree_size,
)

__all__ = [
    "check_tree", "copy_tree", "link_tree", "make_read_only", "make_writable", "pack_directory",
    "remove_tree", "tree_size", "unpack_directory", "write_directory_tar",
]

_HAS_DATA_FILTER = hasattr(tarfile, "data_filter")


def _normalize_member(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Drop owner details so an archive depends only on names, modes and contents."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


# --- packing ------------------------------------------------------------------------------------

def write_directory_tar(path: StrPath, fileobj: IO[bytes]) -> None:
    """Stream the tree at `path` as an uncompressed tar archive into `fileobj`.

    Member names are relative to `path` (the root itself is not a member). Symlinks that stay
    inside the tree are followed, so the archive holds only directories and regular files;
    a symlink leading out of the tree, a symlink cycle or a special file is refused.
    """
    root = os.fspath(path)
    if not os.path.isdir(root):
        raise RainException(f"cannot pack {root!r}: not a directory")
    real_root = os.path.realpath(root)
    with tarfile.open(fileobj=fileobj, mode="w|", dereference=True, format=tarfile.PAX_FORMAT) as tf:
        _pack_dir(tf, root, real_root, "", {real_root})


def _pack_dir(tf: tarfile.TarFile, path: str, real_root: str, rel: str, ancestors: set[str]) -> None:
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise RainException(f"cannot pack {path!r}: {exc}") from exc
    for name in names:
        full = os.path.join(path, name)
        arcname = posixpath.join(rel, name) if rel else name
        real = os.path.realpath(full)
        if os.path.islink(full) and not is_inside(real, real_root):
            raise RainException(f"cannot pack {full!r}: a symlink pointing outside of the directory "
                                f"(to {os.readlink(full)!r})")
        try:
            mode = os.stat(full).st_mode
        except OSError as exc:
            raise RainException(f"cannot pack {full!r}: {exc}") from exc
        kind = special_kind(mode)
        if kind is not None:
            raise RainException(f"cannot pack {full!r}: a {kind} cannot be part of a dir object")
        _add(tf, full, arcname)
        if stat.S_ISDIR(mode):
            if real in ancestors:
                raise RainException(f"cannot pack {full!r}: a symlink cycle")
            _pack_dir(tf, full, real_root, arcname, ancestors | {real})


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


# --- unpacking ----------------------------------------------------------------------------------

def _unsafe(member: tarfile.TarInfo, why: str) -> RainException:
    return RainException(f"unsafe member {member.name!r} in directory archive: {why}")


def _check_member(member: tarfile.TarInfo) -> None:
    """Refuses names and links that leave the directory, and anything but dirs, files and links."""
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith("/") or os.path.isabs(name) or ".." in parts:
        raise _unsafe(member, "an absolute path or '..' component")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        kind = "device" if member.isdev() else "fifo" if member.isfifo() else "special file"
        raise _unsafe(member, f"a {kind}")
    if member.issym() or member.islnk():
        target = member.linkname
        if member.issym():
            target = posixpath.join(posixpath.dirname(name), target)
        norm = posixpath.normpath(target)
        if posixpath.isabs(member.linkname) or norm == ".." or norm.startswith("../"):
            raise _unsafe(member, f"a link pointing outside of the directory (to {member.linkname!r})")


def _data_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's "data" filter, but keeping the permission bits of files and dirs."""
    _check_member(member)
    try:
        filtered = tarfile.data_filter(member, dest)
    except tarfile.TarError as exc:
        raise _unsafe(member, str(exc)) from exc
    if filtered is not None and (member.isreg() or member.isdir()):
        filtered = filtered.replace(mode=member.mode & 0o777, deep=False)
    return filtered


def _extract_checked(tf: tarfile.TarFile, dest: str) -> None:
    """The data filter's guarantees for Pythons without it: nothing is written through a symlink
    or outside `dest`, no owner, special bit or device is taken from the archive."""
    real_dest = os.path.realpath(dest)
    directories = []
    for member in tf:
        _check_member(member)
        target = os.path.join(dest, member.name)
        if not is_inside(os.path.realpath(os.path.dirname(target)), real_dest):
            raise _unsafe(member, "its parent directory leads outside of the directory")
        if os.path.islink(target):
            raise _unsafe(member, "it would be written through a symlink")
        if member.islnk() and not is_inside(os.path.realpath(os.path.join(dest, member.linkname)), real_dest):
            raise _unsafe(member, f"a hard link to a file outside of the directory ({member.linkname!r})")
        tf.extract(member, dest, set_attrs=False)
        if member.isdir():
            directories.append((target, member.mode & 0o777))
        elif member.isreg():
            os.chmod(target, member.mode & 0o777)
    for target, mode in reversed(directories):  # read-only dirs last, children first
        os.chmod(target, mode)


def _check_links(dest: str) -> None:
    """Every symlink must still resolve inside `dest` once all members are in place."""
    real_dest = os.path.realpath(dest)
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full) and not is_inside(os.path.realpath(full), real_dest):
                rel = os.path.relpath(full, dest)
                raise RainException(f"unsafe member {rel!r} in directory archive: a link pointing outside "
                                    f"of the directory (to {os.readlink(full)!r})")


def unpack_directory(data_or_fileobj: bytes | IO[bytes], target: StrPath) -> None:
    """Extract a directory archive into `target`, which must not exist or be empty.

    Unsafe members (see the module docstring) raise RainException; on failure a target
    created here is removed, an existing one emptied again.
    """
    dest = os.fspath(target)
    created = False
    if os.path.lexists(dest):
        if not os.path.isdir(dest) or os.path.islink(dest) or os.listdir(dest):
            raise RainException(f"cannot unpack a directory into {dest!r}: path exists")
    else:
        os.makedirs(dest)
        created = True
    fileobj = (io.BytesIO(data_or_fileobj) if isinstance(data_or_fileobj, (bytes, bytearray, memoryview))
               else data_or_fileobj)
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as tf:
            if _HAS_DATA_FILTER:
                tf.extractall(dest, filter=_data_filter)
            else:
                _extract_checked(tf, dest)
        _check_links(dest)
    except BaseException as exc:
        if created:
            remove_tree(dest)
        else:
            for name in os.listdir(dest):
                remove_tree(os.path.join(dest, name))
        if isinstance(exc, tarfile.TarError):
            raise RainException(f"invalid directory archive: {exc}") from exc
        if isinstance(exc, OSError):
            raise RainException(f"cannot unpack a directory archive into {dest!r}: {exc}") from exc
        raise
