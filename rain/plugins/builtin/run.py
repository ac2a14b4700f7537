"""`buildin/run`: runs an external program in a fresh working directory.

Config (built by `rain.client.tasks.Execute`)::

    {"args": [str, ...],              # the command line, paths already substituted
     "shell": bool,                   # run " ".join(args) through /bin/sh -c
     "inputs": [{"path": str | None, "write": bool, "content_type": str | None}, ...],
     "outputs": [{"path": str | None}, ...],
     "stdin": int | None,             # index of the input fed to stdin
     "stdout": int | None}            # index of the output that captures stdout

One entry per task input / output, in order. The program runs in the task's scratch dir, which
holds only its mapped inputs, so users see a clean directory; stdin (from memory), stdout and
stderr are unnamed files (O_TMPFILE) that never appear in it (see `captures`).
Inputs are real files and directories sharing the stored, read-only data (hard links, see
`rain.common.trees.link_tree`), so tools that do not follow symlinks see them whole, leased to
the task so that other tasks starting or ending do not change them (`rain.common.leases`);
`write` asks for a private writable copy instead. Outputs are moved into the store. Cancellation kills
the program's process group (`ctx.run_process`).

A governor may run a thousand tiny programs a second, so the common case stays on the event
loop: inputs that are stored files (hard links) or small blobs are placed directly, stdout and
stderr go to unnamed files read back through the same descriptors for their tails (the
dashboard shows them; an error names the exit code and the stderr tail) and reused from
program to program, a small stdout
becomes an in-memory blob, and outputs that are files are collected directly. A program that
leaves its directory empty (or holding only what was collected) lets the governor reuse it.
Only directory trees and copies go to a worker thread. The spawn itself is
`rain.core.governor.spawn` (posix_spawn, pidfd).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from typing import Any

import attrs

from rain.common.content_types import is_subtype
from rain.common.data_instance import DataInstance
from rain.plugins.api import TaskContext, TaskError, task_type
from rain.plugins.builtin.captures import ReusedFiles, tail, text_tail, unnamed_file
from rain.plugins.builtin.directories import link_or_copy_tree, relative_path

STDERR_TAIL = 2000
OUTPUT_TAIL = 1000  # of stdout and stderr, kept for monitoring (the server holds it per task)
QUICK_INPUT = 1 << 16  # in-memory inputs up to this size are written on the event loop
SMALL_STDOUT = 256 * 1024  # captured stdout up to this size is kept in memory (like the store)


@attrs.define  # not frozen: built per program, and a frozen init costs twice as much
class InputEntry:
    path: str | None
    write: bool
    content_type: str | None


@attrs.define
class RunConfig:
    args: list[str]
    shell: bool
    inputs: list[InputEntry]
    outputs: list[str | None]
    stdin: int | None
    stdout: int | None

    @property
    def argv(self) -> list[str]:
        return ["/bin/sh", "-c", " ".join(self.args)] if self.shell else list(self.args)


def _index(value: Any, count: int, what: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < count:
        raise TaskError(f"invalid {what} index {value!r}")
    return value


def parse_config(ctx: TaskContext) -> RunConfig:
    config = ctx.config
    if not isinstance(config, dict):
        raise TaskError(f"run needs a config dict, got {config!r}")
    args = config.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise TaskError(f"run needs a non-empty list of string args, got {args!r}")
    raw_in, raw_out = config.get("inputs", []), config.get("outputs", [])
    if not isinstance(raw_in, list) or len(raw_in) != len(ctx.inputs):
        raise TaskError(f"run config has {len(raw_in)} input entries for {len(ctx.inputs)} inputs")
    if not isinstance(raw_out, list) or len(raw_out) != len(ctx.output_specs):
        raise TaskError(f"run config has {len(raw_out)} output entries for {len(ctx.output_specs)} outputs")
    stdin = _index(config.get("stdin"), len(raw_in), "stdin")
    stdout = _index(config.get("stdout"), len(raw_out), "stdout")
    inputs = []
    for i, entry in enumerate(raw_in):
        path = entry.get("path") if isinstance(entry, dict) else None
        if path is None and i != stdin:
            raise TaskError(f"input {i} has no path")
        inputs.append(InputEntry(relative_path(path, "input path") if path is not None else None,
                                 bool(entry.get("write")), entry.get("content_type")))
    outputs: list[str | None] = []
    for i, entry in enumerate(raw_out):
        path = entry.get("path") if isinstance(entry, dict) else None
        if path is None and i != stdout:
            raise TaskError(f"output {i} has no path")
        outputs.append(relative_path(path, "output path") if path is not None else None)
    return RunConfig(args, bool(config.get("shell")), inputs, outputs, stdin, stdout)


def _place_inputs(ctx: TaskContext, cfg: RunConfig, rundir: str) -> None:
    for entry, inst, label in zip(cfg.inputs, ctx.inputs, ctx.inputs.labels(), strict=True):
        if entry.content_type and not is_subtype(inst.content_type, entry.content_type):
            raise TaskError(f"input {label!r} has content type {inst.content_type!r}, "
                            f"expected {entry.content_type!r}")
        if entry.path is None:
            continue
        target = os.path.join(rundir, entry.path)
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if entry.write:
                inst.write(target)
            else:
                inst.link(target)
        except OSError as exc:
            raise TaskError(f"cannot place input {label!r} at {entry.path!r}: {exc}") from None
    for path in cfg.outputs:
        if path is not None:
            os.makedirs(os.path.dirname(os.path.join(rundir, path)), exist_ok=True)


def _stdin_file(ctx: TaskContext, cfg: RunConfig, stack: contextlib.ExitStack) -> int:
    if cfg.stdin is None:
        return subprocess.DEVNULL
    inst = ctx.inputs[cfg.stdin]
    if inst.data_type.value != "blob":
        raise TaskError("stdin must be a blob, not a directory")
    if inst.path is not None:
        fd = os.open(inst.path, os.O_RDONLY | os.O_CLOEXEC)
        stack.callback(os.close, fd)
        return fd
    fd = unnamed_file(ctx.workdir, stack, "stdin").fd
    data = memoryview(inst.get_bytes())
    while data:
        data = data[os.write(fd, data):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _quick_inputs(ctx: TaskContext, cfg: RunConfig) -> bool:
    """Whether placing the inputs is a few syscalls (hard links of stored files, small writes),
    done on the event loop; directory trees and copies go to a worker thread."""
    for entry, inst in zip(cfg.inputs, ctx.inputs, strict=True):
        if entry.path is None:
            continue
        if inst.data_type.value != "blob" or (entry.write and inst.path is not None):
            return False
        if inst.path is None and len(inst.get_bytes()) > QUICK_INPUT:
            return False
    return True


def _exit_error(returncode: int, stderr: str) -> str:
    if returncode < 0:
        try:
            what = f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            what = f"killed by signal {-returncode}"
    else:
        what = f"exit code {returncode}"
    return f"{what}: {stderr}" if stderr else f"{what} (no stderr output)"


def _dereference_links(root: str) -> None:
    """Replaces symlinks that leave an output by their data, so the stored object does not
    point into the removed working dir or at another stored object that may be deleted first."""
    if os.path.islink(root):
        real = os.path.realpath(root)
        os.unlink(root)
        link_or_copy_tree(real, root)
    if not os.path.isdir(root):
        return
    inside = os.path.realpath(root) + os.sep
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) and not os.path.realpath(path).startswith(inside):
                real = os.path.realpath(path)
                os.unlink(path)
                if os.path.exists(real):
                    link_or_copy_tree(real, path)


def _stdout_output(ctx: TaskContext, fd: int, size: int, data: bytes | None) -> tuple[DataInstance, bool]:
    """A small stdout (`data`, read whole) becomes an in-memory blob (where the store would keep
    it anyway), and its file can be reused; a large one is given a name in the scratch dir and
    moved into the store as a file, which is then the stored object's (False: never to be reused)."""
    if data is not None:
        return ctx.blob(data), True
    name = ".rain-stdout"
    while os.path.lexists(os.path.join(ctx.workdir, name)):
        name += "_"
    target = os.path.join(ctx.workdir, name)
    try:
        _name_unnamed_file(fd, target)
    except OSError:  # no /proc, or a file that was named once: copy it
        with open(target, "wb") as f:
            os.sendfile(f.fileno(), fd, 0, size)
    return ctx.output_file(name), False


def _name_unnamed_file(fd: int, target: str) -> None:
    """Links an O_TMPFILE file into `target`'s directory. It takes linkat with
    AT_SYMLINK_FOLLOW on /proc/self/fd (plain link() would link the /proc entry itself and
    fail with EXDEV); os.link uses linkat only when given a directory descriptor."""
    parent = os.open(os.path.dirname(target), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.link(f"/proc/self/fd/{fd}", os.path.basename(target), dst_dir_fd=parent, follow_symlinks=True)
    finally:
        os.close(parent)


def _collect_outputs(ctx: TaskContext, cfg: RunConfig, stdout: DataInstance | None) -> list[DataInstance]:
    results = []
    for i, (path, spec) in enumerate(zip(cfg.outputs, ctx.output_specs, strict=True)):
        if i == cfg.stdout:
            assert stdout is not None
            results.append(stdout)
            continue
        assert path is not None
        full = os.path.join(ctx.workdir, path)
        if not os.path.lexists(full):
            raise TaskError(f"output {spec.label!r}: the program did not create {path!r}")
        if os.path.exists(full):
            _dereference_links(full)
        want_dir = spec.data_type == "dir"
        if want_dir != os.path.isdir(full) or not (want_dir or os.path.isfile(full)):
            kind = "directory" if want_dir else "file"
            raise TaskError(f"output {spec.label!r}: {path!r} is not a {kind}")
        results.append(ctx.output_dir(path) if want_dir else ctx.output_file(path))
    return results


@task_type("buildin/run")
async def run(ctx: TaskContext) -> list[DataInstance]:
    """Runs a program with inputs mapped to files and outputs collected from files / stdout."""
    cfg = parse_config(ctx)
    rundir = ctx.workdir
    files = any(path is not None for path in cfg.outputs)
    if files or cfg.inputs:
        if _quick_inputs(ctx, cfg):
            _place_inputs(ctx, cfg, rundir)
        else:
            await ctx.run_sync(_place_inputs, ctx, cfg, rundir)
    if cfg.stdin is None:
        stdout_output = await _run_program(ctx, cfg.argv, rundir, subprocess.DEVNULL, cfg.stdout is not None)
    else:
        with contextlib.ExitStack() as stack:
            stdin = _stdin_file(ctx, cfg, stack)
            stdout_output = await _run_program(ctx, cfg.argv, rundir, stdin, cfg.stdout is not None)
    if not files or all(path is None or spec.data_type != "dir"
                        for path, spec in zip(cfg.outputs, ctx.output_specs, strict=True)):
        return _collect_outputs(ctx, cfg, stdout_output)
    return await ctx.run_sync(_collect_outputs, ctx, cfg, stdout_output)


async def _run_program(ctx: TaskContext, argv: list[str], rundir: str, stdin: int,
                       keep_stdout: bool) -> DataInstance | None:
    """Runs the program; its stdout as an output instance when `keep_stdout`. stdout and
    stderr go to reused files (`ReusedFiles`), which go back to the pool unless a background
    job of the program may still write to them (or a large stdout became a stored file).
    Each file is sized once and read at most once: a tiny program costs the governor a few
    syscalls beyond its spawn, so none is repeated."""
    files_dir = os.path.dirname(rundir)
    stdout, stderr = ReusedFiles.take(files_dir), ReusedFiles.take(files_dir)
    reuse_stdout = reuse_stderr = False
    out_size = err_size = None
    try:
        try:
            result = await ctx.run_process(argv, cwd=rundir, stdin=stdin, stdout=stdout, stderr=stderr)
        except FileNotFoundError:
            raise TaskError(f"program {argv[0]!r} not found") from None
        except PermissionError:
            if "/" not in argv[0] and shutil.which(argv[0]) is None:  # an unreadable dir on PATH
                raise TaskError(f"program {argv[0]!r} not found") from None
            raise TaskError(f"program {argv[0]!r} is not executable") from None
        reuse_stdout = reuse_stderr = not getattr(result, "leftovers", True)
        out_size, err_size = os.fstat(stdout).st_size, os.fstat(stderr).st_size
        data = None
        if keep_stdout and out_size <= SMALL_STDOUT:
            data = os.pread(stdout, out_size, 0) if out_size else b""
            out_tail = text_tail(data, OUTPUT_TAIL)
        else:
            out_tail = tail(stdout, OUTPUT_TAIL, out_size)
        err = os.pread(stderr, STDERR_TAIL, max(0, err_size - STDERR_TAIL)) if err_size else b""
        ctx.program_output(out_tail, text_tail(err, OUTPUT_TAIL))  # OUTPUT_TAIL <= STDERR_TAIL
        if result.returncode != 0:
            raise TaskError(_exit_error(result.returncode, text_tail(err, STDERR_TAIL)))
        if not keep_stdout:
            return None
        output, reusable = _stdout_output(ctx, stdout, out_size, data)
        reuse_stdout = reuse_stdout and reusable
        return output
    finally:
        ReusedFiles.give_back(files_dir, stderr, reuse_stderr, err_size)
        ReusedFiles.give_back(files_dir, stdout, reuse_stdout, out_size)

