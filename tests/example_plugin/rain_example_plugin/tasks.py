"""The governor side of the example plugin: one `TaskType` per function."""

from __future__ import annotations

import hashlib
import json
import os
import sys

import trio

from rain.common.data_instance import DataInstance
from rain.plugins import TaskContext, TaskError, task_type


@task_type("hash/sha256", inputs=["blob"])  # the server refuses any other inputs at submit
async def sha256(ctx: TaskContext) -> list[DataInstance]:
    """Hex SHA-256 digest of the single input blob (text)."""
    data = ctx.inputs[0].get_bytes()
    if len(data) > 1024 * 1024:  # hashing a big blob takes a while: keep the governor responsive
        digest = await ctx.run_sync(lambda: hashlib.sha256(data).hexdigest())
    else:
        digest = hashlib.sha256(data).hexdigest()
    ctx.debug("hashed %d bytes", len(data))
    return [ctx.blob(digest.encode(), content_type="text")]


def _count_words(text: str) -> dict[str, int]:
    """Plain blocking code, as a third-party library would offer it."""
    counts: dict[str, int] = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts


@task_type("example/word-count", inputs=["blob"])
async def word_count(ctx: TaskContext) -> list[DataInstance]:
    """JSON {word: count} of the input text, counted in a worker thread."""
    text = ctx.inputs[0].get_str()
    counts = await ctx.run_sync(_count_words, text)
    return [ctx.blob(json.dumps(counts, sort_keys=True).encode(), content_type="json")]


@task_type("example/split-lines", inputs=["blob"])
async def split_lines(ctx: TaskContext) -> list[DataInstance]:
    """A directory with one file per input line (`0.txt`, `1.txt`, ...), built in the workdir."""
    lines = ctx.inputs[0].get_str().splitlines()
    out = os.path.join(ctx.workdir, "lines")
    os.mkdir(out)
    for i, line in enumerate(lines):
        with open(os.path.join(out, f"{i}.txt"), "w") as f:
            f.write(line)
    return [ctx.output_dir("lines")]


@task_type("example/fail")
async def fail(ctx: TaskContext) -> None:
    """Always fails with the message given as config: an expected failure, no traceback."""
    raise TaskError(f"example/fail: {ctx.config}")


@task_type("example/wait")
async def wait(ctx: TaskContext) -> list[DataInstance]:
    """Waits `config` seconds (cancellable like any trio sleep), then outputs b"done"."""
    seconds = ctx.config
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise TaskError(f"example/wait needs a number of seconds as config, got {seconds!r}")
    await trio.sleep(seconds)
    return [ctx.blob(b"done")]


_SLEEPER = """
import os, subprocess, sys
seconds, pid_file = sys.argv[1], sys.argv[2]
# A helper process, like the workers many tools start: cancellation must stop it too.
helper = subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(float(sys.argv[1]))", seconds])
if pid_file:
    with open(pid_file + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {helper.pid}")
    os.replace(pid_file + ".tmp", pid_file)
helper.wait()
print("slept", seconds)
"""


@task_type("example/sleep-process")
async def sleep_process(ctx: TaskContext) -> list[DataInstance]:
    """Sleeps in a child process and its helper: config {"seconds": s, "pid_file": optional path}.

    Stands for CPU-heavy work that must stop when the task is cancelled: on cancellation the
    governor kills the child's whole process group, helper included. The pids of both are
    written to `pid_file` once they run.
    """
    config = ctx.config if isinstance(ctx.config, dict) else {}
    seconds = config.get("seconds")
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise TaskError(f"example/sleep-process needs config {{'seconds': number}}, got {ctx.config!r}")
    result = await ctx.run_process([sys.executable, "-c", _SLEEPER, str(seconds), config.get("pid_file") or ""],
                                   capture_stdout=True, capture_stderr=True)
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace")[-500:]
        raise TaskError(f"sleeper exited with code {result.returncode}: {stderr}")
    return [ctx.blob(result.stdout)]
