"""Messages between a governor and its Python executors (role "executor").

They use the same frames and codec as every other Rain connection, so an executor needs no
second serialization path. One call is in flight per executor at a time: the governor sends
`ExecutorCall`, the executor answers with one `ExecutorResult`.
"""

from __future__ import annotations

import os
from typing import Any

import cbor2

from rain.core.protocol.messages import Message, message

# Both sides keep the same LRU of unpickled functions, so the governor knows when it must
# send a function's bytes again without asking the executor.
FUNCTION_CACHE_SIZE = 64

# Results larger than this are written to a file in the executor's staging dir instead of
# being sent inline; the governor then moves the file into its store.
INLINE_RESULT_LIMIT = 1024 * 1024


# The most either side reads from the socket at once (into a buffer kept per connection).
RECEIVE_SIZE = 256 * 1024


def executor_dirs(tasks_dir: str, pid: int) -> tuple[str, str]:
    """An executor's two directories under the governor's tasks dir: where its functions run,
    and where it stages output files for the governor to move into its store."""
    base = os.path.join(tasks_dir, f"executor-{pid}")
    return base, base + ".out"


@message("executor_call")
class ExecutorCall(Message):
    """Run one task.

    `inputs` items: {"data": bytes|None, "path": str|None, "data_type", "spec", "info"}, or None
    for the function input. `outputs` items: [label, content_type, data_type]. `fn` carries
    the pickled function only when this executor has not cached `fn_key` yet. `tasks_dir` is
    the governor's tasks dir, where the executor keeps its `executor_dirs`.
    """

    spec: Any
    tasks_dir: str
    fn_key: Any
    fn: bytes | None
    inputs: list[Any]
    outputs: list[Any]


@message("executor_result")
class ExecutorResult(Message):
    """The outcome of one call.

    `error` set = the task failed (message with traceback); otherwise `outputs` items are
    {"input": index} (pass-through), {"data": bytes} or {"path": str}, each with
    "content_type" and "user" (the object's info.user). `debug` lines and the task's
    `user` info are sent in both cases.
    """

    error: str | None
    outputs: list[Any] | None
    debug: list[str]
    user: dict[str, Any]


def bytes_record(value: bytes) -> dict[str, Any]:
    """The output record of plain bytes returned for a blob output (what `invoke.to_instance`
    and `invoke.output_record` make of them)."""
    return {"content_type": None, "user": {}, "data_type": "blob", "data": value}


def bytes_result_parts() -> tuple[bytes, bytes]:
    """The CBOR of a result with one plain bytes output and nothing else, before and after that
    value: the executor puts the usual result frame together from them, and the governor reads
    it back the same way (both checked against the codec in tests/unit/test_executor_frames.py)."""
    marker = b"rain-executor-result-marker"
    payload = cbor2.dumps(ExecutorResult(None, [bytes_record(marker)], [], {}).to_wire())
    head, tail = payload.split(cbor2.dumps(marker))
    return head, tail
