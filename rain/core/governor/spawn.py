"""Starting task programs at the speed the kernel allows.

A governor may start a thousand tiny programs a second, so the path from "run this" to "it
exited" avoids everything that costs more than the spawn itself:

- The spawn runs on the event loop's thread, not in a worker thread (trio's `open_process`
  hops to a thread and back for every spawn, which costs more CPU than the spawn). It is
  glibc's `posix_spawn` (`rain.core.governor.posix_spawn`: half the CPU of
  `subprocess.Popen`, which remains for options it does not cover). Both start the child
  with `vfork`, so the governor is paused only until the child execs.
- The exit is awaited on a pidfd (one epoll registration), not on a waiting thread.
- Root programs must not ignore permission bits (inputs are read-only hard links into the
  store). That used to be a `preexec_fn` dropping CAP_DAC_OVERRIDE in each child, which
  forces a full `fork` and runs Python in the child; instead the governor drops it once from
  its own bounding set at start (`drop_dac_override_for_children`): the governor keeps the
  capability, and no program it starts gets it.
- A bare program name is resolved on PATH once per governor (`start_program`), not by the
  child trying every PATH directory.

Cancellation kills the program's whole process group (it runs in a new session): SIGTERM,
then SIGKILL after `KILL_GRACE` seconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import trio

from rain.core.governor.posix_spawn import Spawner

KILL_GRACE = 0.05

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1


def drop_dac_override_for_children() -> bool:
    """Removes CAP_DAC_OVERRIDE from this process's capability bounding set.

    The process itself keeps it; programs it execs afterwards do not get it, so a program run
    by a root governor cannot write into a read-only input either. Best effort: without
    CAP_SETPCAP (not root, or a restricted container) nothing changes and False is returned.
    Called once by `rain governor`, never by the library on its own (it changes the process).
    """
    try:
        prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return False
    return bool(prctl(_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, 0, 0, 0) == 0)


class Child:
    """A started program: its pid, and an async `wait()` for its exit status."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._popen = popen  # Popen reaps its own child (and tracks it when collected)

    @classmethod
    def of(cls, popen: subprocess.Popen[bytes]) -> Child:
        return cls(popen.pid, popen)

    async def wait(self) -> int:
        if self.returncode is not None:
            return self.returncode
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # pragma: no cover - kernels before 5.3
            self.returncode = await trio.to_thread.run_sync(self._reap, abandon_on_cancel=True)
            return self.returncode
        try:
            await trio.lowlevel.wait_readable(pidfd)
        except BaseException:
            trio.lowlevel.notify_closing(pidfd)
            os.close(pidfd)
            raise
        # Woken, trio forgot the descriptor; closing it takes it out of the epoll set as well.
        os.close(pidfd)
        self.returncode = self._reap()
        return self.returncode

    def _reap(self) -> int:
        if self._popen is not None:
            return self._popen.wait()
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])


_STREAMS = ("stdin", "stdout", "stderr")
_FAST_OPTIONS = frozenset(("cwd", *_STREAMS))
_spawner = Spawner.create()
_devnull: int | None = None  # one read-write /dev/null for every child that wants it
_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()  # os.fsencode's


def start_program(args: Sequence[str], **kwargs: Any) -> Child:
    """Starts `args` in a new session (its own process group), on the calling thread.

    `kwargs` are `subprocess.Popen` arguments (cwd, env, stdin, stdout, stderr ...). With only
    a cwd and streams that are descriptors, DEVNULL or None, the program is started with
    glibc's posix_spawn (`rain.core.governor.posix_spawn`); anything else goes to Popen (a
    `preexec_fn` works but forces a slow `fork`). A bare program name is looked up on PATH once
    and remembered (`_find`): the child would otherwise try `execve` in every PATH directory
    before the right one, while the governor waits for it (vfork). The program still sees the
    name it was given as its argv[0].
    """
    name = args[0] if args else ""
    path = name if "/" in name else None
    if "executable" not in kwargs and name and path is None:
        path = _find(name, kwargs.get("env"))
    if path is not None:
        try:
            child = _posix_spawn(path, args, kwargs)
            if child is None:
                child = Child.of(subprocess.Popen(args, executable=path, start_new_session=True, **kwargs))
            return child
        except OSError:
            if path == name:
                raise
            _found.clear()  # gone or changed since it was found: look it up the usual way
    return Child.of(subprocess.Popen(args, start_new_session=True, **kwargs))


def _posix_spawn(path: str, args: Sequence[str], kwargs: dict[str, Any]) -> Child | None:
    """The program started by posix_spawn, or None when an option needs Popen."""
    if _spawner is None or not _FAST_OPTIONS.issuperset(kwargs):
        return None
    fds: list[int | None] = []
    for stream in _STREAMS:
        fd = kwargs.get(stream)
        if fd == subprocess.DEVNULL:
            fd = _open_devnull()
        elif fd is not None and (not isinstance(fd, int) or fd < 0):
            return None
        fds.append(fd)
    argv = [a.encode(_FS_ENCODING, _FS_ERRORS) if type(a) is str else os.fsencode(a) for a in args]
    if b"\0" in b"".join(argv):
        return None  # Popen raises the ValueError
    cwd = kwargs.get("cwd")
    return Child(_spawner.spawn(os.fsencode(path), argv, None if cwd is None else os.fsencode(cwd), fds))


def _open_devnull() -> int:
    global _devnull
    if _devnull is None:
        _devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    return _devnull


_found: dict[tuple[str, str | None], str | None] = {}


def _find(name: str, env: Any) -> str | None:
    search = (env if env is not None else os.environ).get("PATH")
    key = (name, search)
    if key not in _found:
        if len(_found) > 1024:
            _found.clear()
        _found[key] = shutil.which(name, path=search)
    return _found[key]


async def kill_process_group(child: Any) -> None:
    """SIGTERM the child's whole group, SIGKILL after `KILL_GRACE`, then reap the child.

    `child` is a `Child` or a `trio.Process` (anything with `pid` and an async `wait()`); this
    is also the `deliver_cancel` of `trio.run_process` calls.
    """
    for sig, grace in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, sig)
        if grace is None:
            break
        with trio.move_on_after(grace):
            await child.wait()
            return
    await child.wait()


class Finished(subprocess.CompletedProcess[bytes]):
    """A program's end: its exit status (negative: killed by a signal), and `leftovers`, whether
    processes of its group (background jobs it started) outlived it."""

    def __init__(self, args: Sequence[str], returncode: int, leftovers: bool) -> None:
        super().__init__(args, returncode)
        self.leftovers = leftovers


async def run_program(args: Sequence[str], **kwargs: Any) -> Finished:
    """Runs a program to its end.

    On cancellation the program's process group is killed and reaped before `Cancelled`
    propagates, so no program outlives the task that started it.
    """
    child = start_program(args, **kwargs)
    try:
        returncode = await child.wait()
    except BaseException:
        with trio.CancelScope(shield=True):
            await kill_process_group(child)
        raise
    return Finished(args, returncode, not _group_gone(child.pid))


def _group_gone(pgid: int) -> bool:
    """Whether no process is left in the process group `pgid` (its leader reaped). A pid is not
    reused while a group has its number, so a live group here is the program's."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # a process of the group changed its user: still there
        return False
    return False
