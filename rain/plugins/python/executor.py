"""The executor process: `python -m rain.plugins.python.executor FD`.

A long-lived child of a governor that runs Python remote tasks one at a time. It talks to its
governor over the Unix socket FD (a socketpair end), with the ordinary Rain frames and a hello
of role "executor". It is deliberately blocking and single-threaded: the user's function runs
on the main thread, and the governor gets concurrency by keeping several executors.

Unpickled functions are cached in an LRU keyed by the id of their data object, so all tasks of
one function that run here see the same function object (and its module-level state).
The executor dies with its governor: the socket reaching EOF ends it when idle, and a watch
thread ends it even while a task runs.
"""

from __future__ import annotations

import inspect
import os
import pickle
import socket
import sys
import threading
import time
from collections import OrderedDict
from typing import Any, NamedTuple

import cbor2

from rain.common.collector import settle_after_start_up
from rain.common.dirtar import remove_tree
from rain.common.rows import TASK_CONFIG
from rain.core.protocol.codec import decode, encode
from rain.core.protocol.framing import FrameReader, ProtocolError, encode_frame
from rain.core.protocol.messages import PROTOCOL_VERSION, Hello, Message
from rain.plugins.python.context import Context
from rain.plugins.python.invoke import (
    CallError,
    build_arguments,
    call_signature,
    collect_outputs,
    leading_positional,
    make_inputs,
    run_function,
)
from rain.plugins.python.messages import (
    FUNCTION_CACHE_SIZE,
    RECEIVE_SIZE,
    ExecutorCall,
    ExecutorResult,
    bytes_record,
    bytes_result_parts,
    executor_dirs,
)


class Connection:
    """Blocking frames on a socket.

    Reads go into one buffer kept for the executor's life: `recv(n)` would allocate n bytes
    per call, and at this size the allocator maps and unmaps fresh pages every time.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = FrameReader()
        self.buffer = bytearray(RECEIVE_SIZE)
        self.buffered = False  # the reader may hold bytes: ask it before reading more

    def send(self, msg: Message) -> None:
        self.sock.sendall(encode(msg))

    def receive(self) -> Message | None:
        """The next message; a read that brings exactly one whole frame (the usual call) is
        decoded straight from the buffer (`FrameReader.feed_read`)."""
        while True:
            if self.buffered:
                frame = self.reader.next_frame()
                if frame is not None:
                    return _decode(frame)
                self.buffered = self.reader.pending > 0
            n = self.sock.recv_into(self.buffer)
            if not n:
                return None
            frame = self.reader.feed_read(self.buffer, n)
            if frame is not None:
                return _decode(frame)
            self.buffered = True


_CALL_KEYS = ExecutorCall.fields | {"type"}


def _decode(frame: bytes) -> Message:
    """`decode`, for a fifth of its own CPU on the usual frame: a call with every field (as
    governors send it) whose fields have the types the codec checks. Any other frame, bad
    ones included, goes through `decode`, which gives the same message or ProtocolError."""
    try:
        body = cbor2.loads(frame)
    except Exception:
        return decode(frame)
    if (type(body) is dict and body.keys() == _CALL_KEYS and body["type"] == "executor_call"
            and type(body["tasks_dir"]) is str and type(body["inputs"]) is list and type(body["outputs"]) is list
            and (body["fn"] is None or type(body["fn"]) is bytes)):
        return ExecutorCall(body["spec"], body["tasks_dir"], body["fn_key"], body["fn"], body["inputs"],
                            body["outputs"])
    return decode(frame)


class CachedFunction(NamedTuple):
    fn: Any
    signature: inspect.Signature
    leading: tuple[str, ...]  # see invoke.leading_positional


class FunctionCache:
    """LRU of unpickled functions; the governor mirrors it to know when to resend bytes."""

    def __init__(self, size: int = FUNCTION_CACHE_SIZE) -> None:
        self.size = size
        self.entries: OrderedDict[Any, CachedFunction] = OrderedDict()

    def get(self, key: Any, data: bytes | None) -> CachedFunction:
        if data is not None:
            fn = pickle.loads(data)
            signature = call_signature(fn)
            self.entries[key] = CachedFunction(fn, signature, leading_positional(signature))
        elif key not in self.entries:
            raise CallError("internal error: the executor lost a cached function")
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return self.entries[key]


# A directory's ctime comes from the kernel's coarse clock (a tick: up to 10 ms), and some
# filesystems keep whole seconds (or two), so a change made within the same tick (or second) as
# the last one seen may leave it as it was. A call that began within a margin of the last
# change, twice the timestamps' grain and at least CTIME_MARGIN_NS, may have made such a change
# however long it then ran: `ExecutorDirs.leave` lists the working directory after it instead
# of trusting its ctime.
CTIME_MARGIN_NS = 50_000_000


def _recent(ctime: int, since: int) -> bool:
    """Whether a change made at `since` (ns) or later could have left `ctime` as it is."""
    return since < _quiet_from(ctime)


def _quiet_from(ctime: int) -> int:
    """From when on (ns) a change would move `ctime`: earlier ones may have left it as it is."""
    grain = 1
    while grain < 10**10 and ctime % (grain * 10) == 0:  # a ctime in whole seconds: their grain
        grain *= 10
    return ctime + max(CTIME_MARGIN_NS, 2 * grain)


class ExecutorDirs:
    """Where functions run, and where the files of their outputs wait for the governor.

    Each call starts in an empty working directory, as if fresh, but making and removing a
    directory per task costs a block allocation and a free (milliseconds on a busy filesystem),
    more than a trivial task. So the executor keeps one, next to the tasks' directories, and
    empties it only when a function left something there. What a call stages (and a result too
    big to send inline) goes to the executor's staging dir, from which the governor moves it
    into its store before it sends the next call; whatever it did not take (the call failed) is
    removed before the next call runs.

    A call that stays in the working directory and makes no files costs one stat: the executor
    stays there between calls, and learns whether a call changed it from the directory's
    identity (any entry made, removed or renamed in it sets its ctime), listing it only when
    that moved or the last change was recent (see `_recent`).
    """

    def __init__(self, home: str) -> None:
        self.home = home
        self.tasks_dir: str | None = None
        self.paths: tuple[str, str] | None = None
        self.staged = False  # the last call put files into the staging dir
        self.seen: Identity | None = None  # the working dir's, when it was last known empty
        self.quiet_from = 0  # `_quiet_from(seen.ctime)`, worked out once per `seen`
        self.inside = False  # the current dir is the working dir, known empty since `seen`
        self.entered = 0  # when the last call began (ns): what it changed is at least as new

    def go_home(self) -> None:
        """Back to the directory the executor started in: a function being unpickled may
        import modules, which may read files relative to the current directory."""
        os.chdir(self.home)
        self.inside = False

    def enter(self, tasks_dir: str) -> tuple[str, str]:
        if tasks_dir != self.tasks_dir or self.paths is None:
            self.remove()
            self.paths = executor_dirs(tasks_dir, os.getpid())
            for path in self.paths:
                os.makedirs(path, exist_ok=True)
            self.tasks_dir = tasks_dir
        paths = self.paths
        if self.staged:
            _empty(paths[1])
        self.staged = False
        if not self.inside:
            os.chdir(paths[0])
        self.inside = False
        self.entered = time.time_ns()
        return paths

    def leave(self) -> None:
        """Empties the working directory if the call may have left something in it. The usual
        call, which stayed there and made nothing, costs one stat of the current directory."""
        self.inside = False
        if self.paths is None:
            return
        try:
            here: Identity | None = _identity(".")
        except OSError:
            here = None
        if here is not None and here == self.seen and self.entered >= self.quiet_from:
            self.inside = True
            return
        workdir = self.paths[0]
        try:
            seen = _identity(workdir)
            if seen != self.seen or _recent(seen.ctime, self.entered):
                _empty(workdir)
                seen = _identity(workdir)
        except OSError:  # the function removed it, or took away its permissions
            remove_tree(workdir)
            os.makedirs(workdir)
            seen = _identity(workdir)
        self.seen = seen
        self.quiet_from = _quiet_from(seen.ctime)

    def remove(self) -> None:
        for path in self.paths or ():
            remove_tree(path)
        self.paths = self.tasks_dir = self.seen = None
        self.inside = False


class Identity(NamedTuple):
    """What changes when a directory is replaced, removed, or has an entry made or removed."""

    device: int
    inode: int
    links: int
    ctime: int


def _identity(path: str) -> Identity:
    """(Built by `tuple.__new__`, not the named tuple's Python-level `__new__`: every call
    ends with one.)"""
    stat = os.stat(path)
    return tuple.__new__(Identity, (stat.st_dev, stat.st_ino, stat.st_nlink, stat.st_ctime_ns))


def _empty(path: str) -> None:
    if os.listdir(path):
        remove_tree(path)
        os.mkdir(path)


def run_call(call: ExecutorCall, cache: FunctionCache, dirs: ExecutorDirs) -> ExecutorResult:
    """Runs one call in the executor's emptied working directory; what the function stages and
    results too big to send inline go to the executor's staging dir. The task's `TaskSpec` is
    built only if the function asks for `ctx.spec`: the config is all a call needs of it."""
    config = call.spec["row"][TASK_CONFIG] or {}
    ctx = Context(None, "", None, stage_dir="", spec_wire=call.spec)
    try:
        if call.fn is not None:
            dirs.go_home()
        try:
            fn, signature, leading = cache.get(tuple(call.fn_key), call.fn)
        except CallError:
            raise
        except Exception as exc:
            raise CallError(f"cannot unpickle the function: {type(exc).__name__}: {exc}") from None
        ctx.function = fn
        inputs = make_inputs(call.inputs)
        ctx.workdir, ctx.stage_dir = dirs.enter(call.tasks_dir)
        try:
            try:
                args, kwargs = build_arguments(ctx, config, inputs, signature, leading)
            except CallError:
                raise
            except Exception as exc:
                raise CallError(f"cannot unpickle the arguments: {type(exc).__name__}: {exc}") from None
            result = run_function(ctx, fn, args, kwargs)
            outputs = collect_outputs(ctx, result, call, inputs, config)
        finally:
            dirs.staged = ctx.staged
            dirs.leave()
    except CallError as exc:
        return ExecutorResult(str(exc), None, ctx.debug_lines, ctx.user_info)
    return ExecutorResult(None, outputs, ctx.debug_lines, ctx.user_info)


def _die_with_parent(interval: float = 0.5) -> None:
    """Exits when the governor is gone, even while a task runs (a daemon thread polls getppid).

    PR_SET_PDEATHSIG would not do: it fires when the parent *thread* that spawned us ends, and
    trio spawns processes from short-lived worker threads.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="rain-parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fd = int(argv[0])
    _die_with_parent()
    home = os.getcwd()  # calls run in their own working dir, but import from here
    if home not in sys.path:
        sys.path.insert(0, home)
    conn = Connection(socket.socket(fileno=fd))
    conn.send(Hello(PROTOCOL_VERSION, "executor"))
    hello = conn.receive()
    if not isinstance(hello, Hello) or hello.version != PROTOCOL_VERSION:
        print(f"rain executor: bad hello from the governor: {hello!r}", file=sys.stderr)
        return 2
    cache = FunctionCache()
    dirs = ExecutorDirs(home)
    settle_after_start_up()
    try:
        while True:
            try:
                msg = conn.receive()
            except ProtocolError as exc:
                print(f"rain executor: protocol error: {exc}", file=sys.stderr)
                return 2
            if msg is None:
                return 0
            if not isinstance(msg, ExecutorCall):
                print(f"rain executor: unexpected message {msg.kind!r}", file=sys.stderr)
                return 2
            conn.sock.sendall(_encode_result(run_call(msg, cache, dirs)))
    finally:
        dirs.remove()


_BYTES_RESULT_HEAD, _BYTES_RESULT_TAIL = bytes_result_parts()
_BYTES_RECORD_KEYS = frozenset(bytes_record(b""))


def _encode_result(result: ExecutorResult) -> bytes:
    """The result's frame; the common result, one small bytes output, is put together from its
    encoded parts (the same bytes `encode` makes, for a fifth of the CPU)."""
    outputs = result.outputs
    if outputs is not None and len(outputs) == 1 and result.error is None and not result.debug and not result.user:
        record = outputs[0]
        if (record.keys() == _BYTES_RECORD_KEYS and record["content_type"] is None and not record["user"]
                and record["data_type"] == "blob" and type(record["data"]) is bytes):
            payload = b"".join((_BYTES_RESULT_HEAD, cbor2.dumps(record["data"]), _BYTES_RESULT_TAIL))
            return encode_frame(payload)
    try:
        return encode(result)
    except Exception as exc:  # e.g. info.user holding values CBOR cannot carry
        return encode(ExecutorResult(f"cannot send the task's result to the governor: {type(exc).__name__}: {exc} "
                                     "(info.user may hold only CBOR-able values)", None, result.debug, {}))


if __name__ == "__main__":
    sys.exit(main())
