"""`posix_spawn` with a working directory: the cheapest way to start a program from Python.

`subprocess.Popen` costs about 0.1 ms of the parent's CPU per program (the error pipe, its
bookkeeping in Python, opening /dev/null), and `os.posix_spawn` nearly as much (it converts the
whole environment every call) while it cannot set the child's working directory. glibc's
`posix_spawn` can (`posix_spawn_file_actions_addchdir_np`, glibc 2.29) and also closes every
descriptor above stderr (`..._addclosefrom_np`, glibc 2.34), like Popen's `close_fds`. Called
through ctypes with a prepared attribute set and the live `environ`, it costs about half of
Popen. glibc starts the child with `clone(CLONE_VM | CLONE_VFORK)` and reports a failed exec
as an error code, so no pipe is needed to learn that the program could not be started.

The child is like Popen's with `start_new_session=True` and default `restore_signals`: a new
session, SIGPIPE and SIGXFSZ back to their defaults (Python ignores SIGPIPE), other ignored
signals still ignored, the signal mask and the environment of the governor.
`Spawner.create()` is None where glibc lacks any of this.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Sequence
from typing import Any

_POSIX_SPAWN_SETSIGDEF = 0x04
_POSIX_SPAWN_SETSID = 0x80
# Opaque glibc structs, allocated larger than they are on any architecture (80 and 336 bytes on
# x86-64); the library's init functions fill them in.
_FileActions = ctypes.c_char * 512
_Attributes = ctypes.c_char * 1024
_SigSet = ctypes.c_ulong * (1024 // (8 * ctypes.sizeof(ctypes.c_ulong)))  # glibc's sigset_t
_LONG_BITS = 8 * ctypes.sizeof(ctypes.c_ulong)
# Back to their defaults in the child: what Popen restores, and glibc's own signals between 32
# and SIGRTMIN, which its posix_spawn would otherwise leave ignored in the program (sigaddset
# refuses them, so the bits are set directly).
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, *range(32, signal.SIGRTMIN))
_pid_t = ctypes.c_int
KEEP_ACTIONS = 128  # sets of file actions kept (see `Spawner._file_actions`)


class Spawner:
    """Starts programs with glibc's `posix_spawn`; one per process (see `create`), used from
    one thread (the governor's event loop: its kept file actions are not locked)."""

    def __init__(self, libc: Any) -> None:
        self._spawn = libc.posix_spawn
        self._init_actions = libc.posix_spawn_file_actions_init
        self._destroy_actions = libc.posix_spawn_file_actions_destroy
        self._add_dup2 = libc.posix_spawn_file_actions_adddup2
        self._add_chdir = libc.posix_spawn_file_actions_addchdir_np
        self._add_closefrom = libc.posix_spawn_file_actions_addclosefrom_np
        self._environ = ctypes.c_void_p.in_dll(libc, "environ")
        self._attributes = _Attributes()
        self._actions: dict[tuple[bytes | None, tuple[int | None, ...]], Any] = {}
        defaults = _SigSet()
        for sig in _DEFAULT_SIGNALS:
            defaults[(sig - 1) // _LONG_BITS] |= 1 << ((sig - 1) % _LONG_BITS)
        if (libc.posix_spawnattr_init(self._attributes)
                or libc.posix_spawnattr_setsigdefault(self._attributes, defaults)
                or libc.posix_spawnattr_setflags(self._attributes,
                                                 ctypes.c_short(_POSIX_SPAWN_SETSID | _POSIX_SPAWN_SETSIGDEF))):
            raise OSError("posix_spawn attributes could not be set")

    @classmethod
    def create(cls) -> Spawner | None:
        """The process's spawner, or None where libc is not a glibc with these functions."""
        try:
            return cls(ctypes.CDLL(None, use_errno=True))
        except (OSError, AttributeError, ValueError):
            return None

    def spawn(self, path: bytes, args: Sequence[bytes], cwd: bytes | None, fds: Sequence[int | None]) -> int:
        """Starts `path` with `args` (no NUL bytes: checked by the caller) in a new session;
        `fds[i]`, when given, becomes the child's descriptor i. Returns the pid; a program that
        cannot be started raises the `OSError` that Popen would (FileNotFoundError ...)."""
        actions = self._file_actions(cwd, tuple(fds))
        argv = (ctypes.c_char_p * (len(args) + 1))(*args, None)
        pid = _pid_t()
        err = self._spawn(ctypes.byref(pid), path, actions, self._attributes, argv, self._environ)
        if err:
            raise OSError(err, os.strerror(err), os.fsdecode(path))
        return pid.value

    def _file_actions(self, cwd: bytes | None, fds: tuple[int | None, ...]) -> Any:
        """The prepared file actions for a working dir and descriptors. Building them costs
        seven libc calls (each dup2 also asks for the descriptor limit), and a governor runs
        its programs in a few reused scratch dirs with reused capture files, so they are
        kept, up to `KEEP_ACTIONS` sets."""
        key = (cwd, fds)
        actions = self._actions.get(key)
        if actions is not None:
            return actions
        actions = _FileActions()
        if self._init_actions(actions):
            raise OSError("posix_spawn_file_actions_init failed")
        try:
            for target, fd in enumerate(fds):
                if fd is not None and self._add_dup2(actions, fd, target):
                    raise OSError(f"cannot pass descriptor {fd}")
            if (cwd is not None and self._add_chdir(actions, cwd)) or self._add_closefrom(actions, len(fds)):
                raise OSError("posix_spawn file actions could not be set")
        except BaseException:
            self._destroy_actions(actions)
            raise
        if len(self._actions) >= KEEP_ACTIONS:
            self.forget_actions()
        self._actions[key] = actions
        return actions

    def forget_actions(self) -> None:
        """Frees every kept set of file actions."""
        for actions in self._actions.values():
            self._destroy_actions(actions)
        self._actions.clear()
