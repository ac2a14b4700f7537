"""The governor's pool of Python executor processes (trio, no threads).

Plugins get no governor-lifetime hook, so the pool is a per-trio-run singleton (`RunVar`)
created on the first Python task. Its lifetime tasks (reaping killed processes, warming a
replacement) run as trio system tasks, and a guardian system task kills every executor when
the governor's trio run ends. Executors are reused LIFO, so a chain of tasks keeps hitting
the same warm process and its function cache; the pool holds about as many executors as the
governor ever ran Python tasks at once, plus one warm spare.

An executor that was busy when its task was cancelled, or that broke the protocol, is killed
with its whole process group (SIGKILL, synchronous, so it is gone before the CPU is reported
free); the warm spare takes its place at once.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import trio

from rain.common.dirtar import remove_tree
from rain.core.protocol.codec import decode
from rain.core.protocol.framing import FrameReader, ProtocolError
from rain.core.protocol.messages import PROTOCOL_VERSION, Hello, Message
from rain.core.protocol.stream import MessageStream
from rain.plugins.python.messages import (
    FUNCTION_CACHE_SIZE,
    RECEIVE_SIZE,
    ExecutorResult,
    bytes_record,
    bytes_result_parts,
    executor_dirs,
)

logger = logging.getLogger(__name__)

EXECUTOR_MODULE = "rain.plugins.python.executor"
START_TIMEOUT = 60.0
REAP_TIMEOUT = 2.0  # how long the end of a run waits for its killed executors to exit
UNWAITED_REPLIES = 4  # answers read in a row without waiting (see `Executor.read_replies`)


ReplyCallback = Callable[[Message | None], None]


def _deliver(on_reply: ReplyCallback, reply: Message | None) -> None:
    try:
        on_reply(reply)
    except Exception:  # a bug in the caller's completion: the reader must go on
        logger.exception("completing a Python call failed")


_BYTES_RESULT_HEAD, _BYTES_RESULT_TAIL = bytes_result_parts()
_HEAD_SIZE, _TAIL_SIZE = len(_BYTES_RESULT_HEAD), len(_BYTES_RESULT_TAIL)
_BYTES_ITEM_SIZE_BYTES = {24: 1, 25: 2, 26: 4, 27: 8}  # CBOR's additional info -> bytes of the length


def decode_reply(payload: bytes) -> Message:
    """An executor's answer. The common one, a single plain bytes output and nothing else, is
    read from its encoded parts (the frame the executor puts together the same way), for a
    fraction of the CPU of `decode`; anything else goes through `decode`."""
    head, tail = _BYTES_RESULT_HEAD, _BYTES_RESULT_TAIL
    if payload.startswith(head) and payload.endswith(tail):
        start, end = _HEAD_SIZE, len(payload) - _TAIL_SIZE
        initial = payload[start] if start < end else 0
        size = initial & 0x1F
        if initial >> 5 == 2:  # a byte string of definite length
            width = _BYTES_ITEM_SIZE_BYTES.get(size, 0)
            if width:
                size = int.from_bytes(payload[start + 1:start + 1 + width], "big")
            if size < 24 or width:
                start += 1 + width
                if start + size == end:
                    return ExecutorResult(None, [bytes_record(payload[start:end])], [], {})
    return decode(payload)


class ExecutorStartError(Exception):
    """An executor process could not be started or did not say hello."""


class Executor:
    """One executor process and its socket, plus the governor's mirror of its function cache."""

    def __init__(self, process: trio.Process, stream: MessageStream, sock: socket.socket) -> None:
        self.process = process
        self.stream = stream  # for the hello; calls go straight to `sock` (see `call`)
        self.sock = sock
        self.reader = FrameReader()
        self.buffer = bytearray(RECEIVE_SIZE)  # see executor.Connection
        self.functions: OrderedDict[Any, None] = OrderedDict()
        self.on_reply: ReplyCallback | None = None  # the call in flight
        self.alive = True
        self.dirs: tuple[str, str] | None = None  # its working and staging dirs, once it ran a call
        self._tasks_dir = ""

    def stage_dir(self, tasks_dir: str) -> str:
        """Where it stages files for a call under `tasks_dir` (see executor.ExecutorDirs)."""
        if tasks_dir != self._tasks_dir or self.dirs is None:
            self.dirs = executor_dirs(tasks_dir, self.process.pid)
            self._tasks_dir = tasks_dir
        return self.dirs[1]

    def send_call(self, frame: bytes, on_reply: ReplyCallback) -> None:
        """Sends one call now, without a checkpoint; `on_reply` later gets the answer, or None
        when the executor closed its socket or spoke nonsense (from `read_replies`).

        The send goes straight to the non-blocking socket: the executor is idle, so its buffer
        has room and the rare rest of a big frame goes on in the background. Only the holder of
        the executor sends to it, so no lock is needed.
        """
        assert self.on_reply is None, "one call at a time"
        self.on_reply = on_reply
        try:
            sent = self.sock.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError:  # it is gone: the reader reports that
            return
        if sent < len(frame):
            trio.lowlevel.spawn_system_task(self._send_rest, memoryview(frame)[sent:], name="rain executor send")

    async def _send_rest(self, view: memoryview) -> None:
        try:
            while view:
                if self.sock.fileno() == -1:
                    raise trio.ClosedResourceError
                await trio.lowlevel.wait_writable(self.sock)
                try:
                    view = view[self.sock.send(view):]
                except BlockingIOError:
                    continue
        except (OSError, trio.ClosedResourceError, trio.BusyResourceError):
            self.kill()  # half a frame went out: the reader reports the executor's end

    async def call(self, frame: bytes) -> Message | None:
        """Sends one call and waits for the answer (None: the executor closed its socket)."""
        replies: list[Message | None] = []
        answered = trio.Event()

        def on_reply(reply: Message | None) -> None:
            replies.append(reply)
            answered.set()

        self.send_call(frame, on_reply)
        try:
            await answered.wait()
        finally:
            if not replies:  # cancelled: the caller kills the executor
                self.on_reply = None
        return replies[0]

    def forget_call(self) -> None:
        """The call's answer is no longer wanted (its task was cancelled; the executor is killed)."""
        self.on_reply = None

    async def read_replies(self) -> None:
        """Hands each answer to the call waiting for it, for the executor's whole life (a system
        task, started after the hello). When the executor ends, so does this; a call still
        waiting gets None once the process has exited (or half a second passed), so that its
        exit status can say what happened.

        Completing an answer usually sends the executor its next call, which it often answers
        while the governor is still busy with the rest: so after an answer that came through a
        wait, the next one is first looked for without waiting (at most `UNWAITED_REPLIES` in a
        row, so that a fast executor cannot keep the rest of the governor from running)."""
        try:
            unwaited = 0  # answers taken since the last wait
            while True:
                frame = self._frame_now() if unwaited < UNWAITED_REPLIES and self.on_reply is not None else None
                unwaited = unwaited + 1 if frame is not None else 0
                reply = decode_reply(frame) if frame is not None else await self._next_reply()
                if reply is None:
                    break
                on_reply, self.on_reply = self.on_reply, None
                if on_reply is None:  # an answer nobody asked for
                    break
                _deliver(on_reply, reply)
        except (OSError, ProtocolError, trio.ClosedResourceError, trio.BrokenResourceError):
            pass
        self.kill()
        if self.on_reply is not None:
            with trio.move_on_after(0.5):
                await self.process.wait()
            on_reply, self.on_reply = self.on_reply, None
            if on_reply is not None:
                _deliver(on_reply, None)

    def _frame_now(self) -> bytes | None:
        """The next frame if it has arrived, without waiting; None otherwise, also at the end
        of the stream (which the next wait then finds)."""
        frame = self.reader.next_frame()
        if frame is not None:
            return frame
        try:
            n = self.sock.recv_into(self.buffer)
        except BlockingIOError:
            return None
        if not n:
            return None
        frame = self.reader.feed_read(self.buffer, n)
        return frame if frame is not None else self.reader.next_frame()

    async def _next_reply(self) -> Message | None:
        while True:
            frame = self.reader.next_frame()
            if frame is not None:
                return decode_reply(frame)
            if self.sock.fileno() == -1:  # closed while this task was not waiting on it
                return None
            await trio.lowlevel.wait_readable(self.sock)
            try:
                n = self.sock.recv_into(self.buffer)
            except BlockingIOError:
                continue
            if not n:
                return None
            frame = self.reader.feed_read(self.buffer, n)
            if frame is not None:
                return decode_reply(frame)

    @property
    def pid(self) -> int:
        return self.process.pid

    def needs_function(self, key: Any) -> bool:
        """Records a use of `key` exactly as the executor's LRU does; True if bytes must be sent."""
        missing = key not in self.functions
        self.functions[key] = None
        self.functions.move_to_end(key)
        while len(self.functions) > FUNCTION_CACHE_SIZE:
            self.functions.popitem(last=False)
        return missing

    def kill(self) -> None:
        self.alive = False
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def exit_description(self) -> str:
        code = self.process.poll()
        if code is None:
            return "closed its connection"
        if code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with code {code}"


class ExecutorPool:
    def __init__(self) -> None:
        self.idle: list[Executor] = []
        self.all: set[Executor] = set()
        self._warming = 0
        self._claims = 0
        self._lot = trio.lowlevel.ParkingLot()
        self.tasks_dir: str | None = None  # the governor's, learnt from the first task
        self.reaping: set[Executor] = set()  # discarded, not yet reaped

    async def acquire(self) -> Executor:
        """An idle executor, a warming one, or a freshly started one; keeps one spare warming.

        Like trio's locks: a task already cancelled takes nothing (killing an executor it never
        used would throw away a warm process), and one served at once still yields, shielded."""
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            executor = self._pop_idle()
            if executor is not None:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return executor
            if self._warming > self._claims:
                self._claims += 1
                try:
                    while not self.idle and self._warming:
                        await self._lot.park()
                finally:
                    self._claims -= 1
                executor = self._pop_idle()
                if executor is not None:
                    return executor
            self._ensure_spare()  # start it alongside ours, not after
            return await self.start()
        finally:
            self._ensure_spare()

    def take_idle(self) -> Executor | None:
        """An idle executor now, without a checkpoint, or None (then `acquire`). The caller
        must be at a checkpoint of its own next (a call waits for its answer), and must not be
        cancelled already: `acquire`'s rules, without its yield, on the path every call takes."""
        executor = self._pop_idle()
        if executor is not None:
            self._ensure_spare()
        return executor

    def _pop_idle(self) -> Executor | None:
        """The most recently used live executor. One that died idle is known by its reply
        reader (which marks it dead), not by polling its process per call; one that dies
        unnoticed in between fails its next call as crashed, which the server retries."""
        while self.idle:
            executor = self.idle.pop()
            if executor.alive:
                return executor
            self.discard(executor)
        return None

    def release(self, executor: Executor) -> None:
        """Back to the pool after a call that completed normally."""
        if executor.alive:
            self.idle.append(executor)
        else:
            self.discard(executor)

    def discard(self, executor: Executor) -> None:
        """Kills the executor now and reaps it in the background."""
        executor.kill()
        if executor in self.all:
            self.all.discard(executor)
            self.reaping.add(executor)
            trio.lowlevel.spawn_system_task(self._reap, executor, name="rain executor reaper")
        self._ensure_spare()

    def _ensure_spare(self) -> None:
        """Starts a spare in the background when none is idle or starting, so that the next task
        (e.g. of a new session after a cancelled one) does not wait for a process start."""
        if not self.idle and self._warming == 0:
            self._warming += 1
            trio.lowlevel.spawn_system_task(self._warm, name="rain executor warmer")

    async def start(self) -> Executor:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                process = await trio.lowlevel.open_process(
                    [sys.executable, "-m", EXECUTOR_MODULE, str(child.fileno())],
                    pass_fds=(child.fileno(),), start_new_session=True, stdin=subprocess.DEVNULL)
            finally:
                child.close()
        except OSError as exc:
            parent.close()
            raise ExecutorStartError(f"cannot start a Python executor: {exc}") from None
        stream = MessageStream(trio.SocketStream(trio.socket.from_stdlib_socket(parent)), f"executor {process.pid}")
        executor = Executor(process, stream, parent)
        self.all.add(executor)
        try:
            with trio.fail_after(START_TIMEOUT):
                hello = await stream.receive()
            if not isinstance(hello, Hello) or hello.role != "executor" or hello.version != PROTOCOL_VERSION:
                raise ExecutorStartError(f"Python executor {executor.exit_description()} "
                                         f"instead of saying hello (got {hello!r})")
            await stream.send(Hello(PROTOCOL_VERSION, "governor"))
        except ExecutorStartError:
            self.discard(executor)
            raise
        except (trio.TooSlowError, trio.BrokenResourceError, OSError) as exc:
            self.discard(executor)
            raise ExecutorStartError(f"Python executor did not start: {type(exc).__name__}: {exc}") from None
        except BaseException:
            self.discard(executor)
            raise
        trio.lowlevel.spawn_system_task(executor.read_replies, name=f"rain executor {process.pid} replies")
        logger.debug("started Python executor %d", process.pid)
        return executor

    async def _warm(self) -> None:
        try:
            executor = await self.start()
        except BaseException as exc:  # a system task must never raise
            if not isinstance(exc, trio.Cancelled):
                logger.warning("cannot warm a Python executor: %s", exc)
        else:
            self.idle.insert(0, executor)  # used last: warm executors have no cached functions
        finally:
            self._warming -= 1
            self._lot.unpark_all()

    async def _reap(self, executor: Executor) -> None:
        try:
            await executor.stream.aclose()
            await executor.process.wait()
            self.reaping.discard(executor)  # its process is gone; the guardian need not wait
            for path in executor.dirs or ():  # a killed executor could not remove them itself
                await trio.to_thread.run_sync(remove_tree, path)
        except BaseException:  # cancelled at the end of the run: the guardian reaps it
            pass

    async def guard(self) -> None:
        """Kills every executor when the governor's trio run ends, and reaps them (briefly:
        they were sent SIGKILL), so that no zombie or open socket outlives the run."""
        try:
            await trio.sleep_forever()
        finally:
            executors = [*self.all, *self.reaping]
            for executor in executors:
                executor.kill()
            with trio.CancelScope(shield=True), trio.move_on_after(REAP_TIMEOUT):
                for executor in executors:
                    await executor.stream.aclose()
                    await executor.process.wait()


_POOL: trio.lowlevel.RunVar[ExecutorPool] = trio.lowlevel.RunVar("rain_python_executor_pool")


def get_pool() -> ExecutorPool:
    """The pool of the current trio run (the governor), created on first use."""
    try:
        return _POOL.get()
    except LookupError:
        pool = ExecutorPool()
        _POOL.set(pool)
        trio.lowlevel.spawn_system_task(pool.guard, name="rain executor guardian")
        return pool
