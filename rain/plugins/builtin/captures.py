"""Files that catch a program's stdin, stdout and stderr outside its working directory.

stdout and stderr go to unnamed (O_TMPFILE) files reused from program to program: creating
and dropping an unnamed file on a journaling filesystem costs about 40 us of CPU and more of
waiting, as much as a fifth of what the governor spends on a tiny program. Reuse is safe once
nothing can write to the file any more: a file goes back to the pool only when the program's
process group is gone (a background job it left keeps the file, which is then dropped), and
it is emptied before the next program gets it. A large stdout kept as an output is linked
into the store and leaves the pool. A stdin fed from memory gets a file of its own."""

from __future__ import annotations

import contextlib
import os

import attrs

KEEP = 16  # reusable files kept per directory at most (a governor runs one program per CPU)


@attrs.frozen
class Capture:
    """A file outside the program's directory: unnamed (O_TMPFILE) where the filesystem can,
    else named beside the scratch dir (`path`)."""

    fd: int
    path: str | None


def unnamed_file(workdir: str, stack: contextlib.ExitStack, name: str) -> Capture:
    """A file of the task's own that never shows in its directory, so the program sees only
    its inputs and the scratch dir can be reused without a rmdir."""
    try:
        fd = os.open(workdir, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o644)
        stack.callback(os.close, fd)
        return Capture(fd, None)
    except OSError:  # a filesystem without O_TMPFILE
        pass
    path = f"{workdir}.{name}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    stack.callback(_remove_quietly, path)
    stack.callback(os.close, fd)
    return Capture(fd, path)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def tail(fd: int, size: int, end: int | None = None) -> str:
    """The last `size` bytes written to a capture file (read through the governor's own
    descriptor: no reopening, no seek); `end` is the file's size when the caller knows it."""
    if end is None:
        end = os.fstat(fd).st_size
    if not end:
        return ""
    return text_tail(os.pread(fd, size, max(0, end - size)), size)


def text_tail(data: bytes, size: int) -> str:
    """The last `size` bytes of `data` as text, for messages and monitoring."""
    return data[-size:].decode("utf-8", "replace").strip()


class ReusedFiles:
    """Empty unnamed files in one directory, handed out for programs' stdout and stderr."""

    _pools: dict[str, list[int]] = {}  # noqa: RUF012 (one pool per directory, shared on purpose)

    @classmethod
    def take(cls, directory: str) -> int:
        spare = cls._pools.get(directory)
        if spare:
            return spare.pop()
        try:
            return os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o644)
        except OSError:  # a filesystem without O_TMPFILE: a named file, unnamed at once
            fd, path = _named_file(directory)
            os.unlink(path)
            return fd

    @classmethod
    def give_back(cls, directory: str, fd: int, reusable: bool, size: int | None = None) -> None:
        """Empties `fd` for the next program, or closes it when something may still write to
        it (`reusable` False) or the pool is full. `size`: the file's size when the caller
        has just read it (nothing can write to a reusable file any more)."""
        spare = cls._pools.setdefault(directory, [])
        if reusable and len(spare) < KEEP:
            try:
                if size is None:
                    size = os.fstat(fd).st_size
                if size:
                    os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                spare.append(fd)
                return
            except OSError:
                pass
        os.close(fd)


def _named_file(directory: str) -> tuple[int, str]:
    for attempt in range(100):
        path = os.path.join(directory, f".capture-{os.getpid()}-{attempt}")
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free capture file name in {directory}")

