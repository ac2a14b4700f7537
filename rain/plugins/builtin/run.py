"""`buildin/run`: runs an external program in a fresh working directory.

Config (built by `rain.client.tasks.Execute`)::

    {"args": [str, ...],              # the command line, paths already substituted
     "shell": bool,                   # run " ".join(args) through /bin/sh -c
     "inputs": [{"path": str | None, "write": bool, "content_type": str | None}, ...],
     "outputs": [{"path": str | None}, ...],
     "stdin": int | None,             # index of the input fed to stdin
     "stdout": int | None}            # index of the output that captures stdout

One entry per task input / output, in order. The program runs in `<workdir>/run`, which holds
only its mapped inputs, so users see a clean directory; stdout and stderr go to files beside it.
Inputs are real files and directories sharing the stored, read-only data (hard links, see
`rain.common.trees.link_tree`), so tools that do not follow symlinks see them whole; `write`
asks for a private writable copy instead. Outputs are moved into the store. Cancellation kills
the program's process group (`ctx.run_process`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
from typing import Any

import attrs

from rain.common.content_types import is_subtype
from rain.common.data_instance import DataInstance
from rain.plugins.api import TaskContext, TaskError, task_type
from rain.plugins.builtin.directories import link_or_copy_tree, relative_path

STDERR_TAIL = 2000
OUTPUT_TAIL = 1000  # of stdout and stderr, kept for monitoring (the server holds it per task)

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
try:
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None


def _drop_dac_override() -> None:
    """preexec_fn: root ignores permission bits, which would make linked inputs writable.

    Dropping CAP_DAC_OVERRIDE from the bounding set before exec leaves a root program without
    it, so writing a read-only input fails as it does for other users. Best effort: without
    CAP_SETPCAP the call fails and nothing changes.
    """
    if _prctl is not None:
        _prctl(_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, 0, 0, 0)


@attrs.frozen
class InputEntry:
    path: str | None
    write: bool
    content_type: str | None


@attrs.frozen
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


def _stdin_file(ctx: TaskContext, cfg: RunConfig, stack: contextlib.ExitStack) -> Any:
    if cfg.stdin is None:
        return subprocess.DEVNULL
    inst = ctx.inputs[cfg.stdin]
    if inst.data_type.value != "blob":
        raise TaskError("stdin must be a blob, not a directory")
    path = inst.path
    if path is None:
        path = os.path.join(ctx.workdir, "stdin")
        inst.write(path)
    return stack.enter_context(open(path, "rb"))


def _stderr_tail(path: str, size: int = STDERR_TAIL) -> str:
    if not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - size))
        return f.read().decode("utf-8", "replace").strip()


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


def _collect_outputs(ctx: TaskContext, cfg: RunConfig) -> list[DataInstance]:
    results = []
    for i, (path, spec) in enumerate(zip(cfg.outputs, ctx.output_specs, strict=True)):
        if i == cfg.stdout:
            results.append(ctx.output_file("stdout"))
            continue
        assert path is not None
        full = os.path.join(ctx.workdir, "run", path)
        if not os.path.lexists(full):
            raise TaskError(f"output {spec.label!r}: the program did not create {path!r}")
        if os.path.exists(full):
            _dereference_links(full)
        want_dir = spec.data_type == "dir"
        if want_dir != os.path.isdir(full) or not (want_dir or os.path.isfile(full)):
            kind = "directory" if want_dir else "file"
            raise TaskError(f"output {spec.label!r}: {path!r} is not a {kind}")
        rel = os.path.join("run", path)
        results.append(ctx.output_dir(rel) if want_dir else ctx.output_file(rel))
    return results


@task_type("buildin/run")
async def run(ctx: TaskContext) -> list[DataInstance]:
    """Runs a program with inputs mapped to files and outputs collected from files / stdout."""
    cfg = parse_config(ctx)
    rundir = os.path.join(ctx.workdir, "run")
    os.mkdir(rundir)
    await ctx.run_sync(_place_inputs, ctx, cfg, rundir)
    argv = cfg.argv
    stderr_path = os.path.join(ctx.workdir, "stderr")
    stdout_path = os.path.join(ctx.workdir, "stdout")
    with contextlib.ExitStack() as stack:
        stdin = _stdin_file(ctx, cfg, stack)
        stdout = stack.enter_context(open(stdout_path, "wb"))  # an output, or kept for its tail
        stderr = stack.enter_context(open(stderr_path, "wb"))
        preexec = _drop_dac_override if os.geteuid() == 0 else None
        try:
            result = await ctx.run_process(argv, cwd=rundir, stdin=stdin, stdout=stdout, stderr=stderr,
                                           preexec_fn=preexec)
        except FileNotFoundError:
            raise TaskError(f"program {argv[0]!r} not found") from None
        except PermissionError:
            if "/" not in argv[0] and shutil.which(argv[0]) is None:  # an unreadable dir on PATH
                raise TaskError(f"program {argv[0]!r} not found") from None
            raise TaskError(f"program {argv[0]!r} is not executable") from None
    ctx.program_output(_stderr_tail(stdout_path, OUTPUT_TAIL), _stderr_tail(stderr_path, OUTPUT_TAIL))
    if result.returncode != 0:
        raise TaskError(_exit_error(result.returncode, _stderr_tail(stderr_path)))
    return await ctx.run_sync(_collect_outputs, ctx, cfg)
