"""The server's journal: the state changes a restarted server needs, appended in batches.

Why an append-only file of checksummed records rather than a database: a server killed with
SIGKILL (or a disk that fills up) leaves at most the last record torn, and a journal cut at
any byte must still give back every record before the cut, with the rest ignored with a
warning. An append-only log has exactly that property: each record is
`length (4 bytes) | crc32 (4 bytes) | payload`, and reading stops at the first record that is
short or whose checksum does not match. The file is then truncated to its valid part, so new
records follow good ones. (An SQLite database file cut at a random byte is just malformed.)

Items are CBOR arrays `[kind, session_id, ...]`:
- `["session", sid, name, keep_alive]`, `["unkeep", sid, [ids]]`, `["failed", sid, message,
  failed_task]`, `["close", sid]`;
- `["submit_frame", sid, frame]`: a client's submit, the payload of its `Submit` message as it
  came off the wire (constant data included), so the writer copies bytes instead of encoding
  the rows again (which cost more CPU than the rest of the journal); `["submit", sid, tasks,
  objects]`: a submit given as rows (older journals, submits made inside the server);
- `["finished_tasks", sid, [task_id, ...], [outputs, ...]]`: consecutive task finishes of one
  session, merged as they are appended (the server appends `["finished", sid, task_id,
  outputs]` per task, which older journals hold as such). `outputs` is the size of the task's
  only output when its info holds nothing else (the common case), else its `ReportedOutput`
  rows. One item per run instead of one per task: a million finishes are encoded, decoded and
  replayed (`bulk_finish`) as a few large lists, not a million small items;
- `["governor", 0, governor_id]` / `["governor_lost", 0, governor_id]`: which governors
  held objects, so that a restarted server knows whom to wait for;
- `["next_session", 0, n]`: written by compaction, so session ids are never reused.

A record holds the items of one flush (a batch) as one CBOR array. Closed sessions are pruned
by compaction: once the bytes of closed sessions exceed both `COMPACT_MIN` and the live bytes,
the writer thread copies the live items to a new file and renames it over the old one, so the
journal follows the live state, not the history.

Threads: the file is only touched by the writer, in a worker thread (one at a time: the flush
holds a trio lock); the event loop only appends items to a list.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import os
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import cbor2
import trio
import trio.lowlevel

logger = logging.getLogger(__name__)

MAGIC = b"RAINJRN1"
HEADER_SIZE = len(MAGIC) + 16  # + the incarnation uuid
RECORD_HEAD = struct.Struct(">II")  # payload length, crc32 of the payload
FLUSH_PERIOD = 0.05  # finishes; a submit or a new session wakes the writer at once
COMPACT_MIN = 8 << 20
GLOBAL = 0  # the "session" of items that belong to no session


class JournalError(Exception):
    """The journal file cannot be used at all (not a journal, unreadable)."""


def _encode_items(items: list[list[Any]]) -> tuple[bytes, list[tuple[int, int]]]:
    """A record's payload (one CBOR array of the items) and each item's (session, size): items
    are few and of very different sizes (a submit, a run of finishes, a close), so each is
    encoded on its own and the array header is written by hand."""
    encoded = [cbor2.dumps(item) for item in items]
    payload = _array_head(len(items)) + b"".join(encoded)
    return payload, [(item[1], len(data)) for item, data in zip(items, encoded, strict=True)]


def _array_head(length: int) -> bytes:
    """The head of a CBOR array of `length` items (major type 4)."""
    if length < 24:
        return bytes([0x80 | length])
    if length < 1 << 8:
        return bytes([0x98, length])
    if length < 1 << 16:
        return b"\x99" + length.to_bytes(2, "big")
    return b"\x9a" + length.to_bytes(4, "big")


def compact_outputs(outputs: list[Any]) -> Any:
    """A finished task's outputs as journaled: the size alone for one output whose info is
    just its size, else the `ReportedOutput` rows unchanged."""
    if len(outputs) == 1:
        info = outputs[0][1]
        if type(info) is dict and len(info) == 1:
            size = info.get("size")
            if type(size) is int:
                return size
    return outputs


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a journal is read and replayed, then the restored
    graph frozen (`gc.freeze`), like the objects of a starting server (rain.common.collector).

    Reading and replaying a million-task journal allocates tens of millions of long-lived
    objects; the collector would scan them again and again as they pile up (a sixth of the
    restore's time), and once more at its first collection after the restore."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _record(payload: bytes) -> bytes:
    return RECORD_HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def read_journal(path: str) -> tuple[str, list[list[Any]], int]:
    """The incarnation, the items of every intact record and the length of the intact part.
    A torn or corrupt tail is reported with a warning and left out."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < HEADER_SIZE:
        if MAGIC.startswith(data[: len(MAGIC)]):
            logger.warning("journal %s: header cut short; starting a new journal", path)
            return "", [], 0
        raise JournalError(f"{path} is not a rain journal")
    if data[: len(MAGIC)] != MAGIC:
        raise JournalError(f"{path} is not a rain journal")
    incarnation = uuid.UUID(bytes=data[len(MAGIC):HEADER_SIZE]).hex
    items: list[list[Any]] = []
    offset = HEADER_SIZE
    for payload, end in _records(data, offset):
        batch = _decode_items(payload)
        if batch is None:
            break
        items += batch
        offset = end
    if offset < len(data):
        logger.warning("journal %s: ignoring %d bytes after offset %d (a record cut short or corrupt, "
                       "as when the server is killed while writing)", path, len(data) - offset, offset)
    return incarnation, items, offset


def _records(data: bytes, offset: int) -> Iterator[tuple[memoryview, int]]:
    view = memoryview(data)
    while offset + RECORD_HEAD.size <= len(data):
        length, crc = RECORD_HEAD.unpack_from(data, offset)
        start = offset + RECORD_HEAD.size
        end = start + length
        if end > len(data):
            return
        payload = view[start:end]
        if zlib.crc32(payload) != crc:
            return
        yield payload, end
        offset = end


def _decode_items(payload: memoryview) -> list[list[Any]] | None:
    try:
        items = cbor2.loads(payload)
    except Exception:  # bytes off the disk: any decoding failure ends the replay
        return None
    if not isinstance(items, list):
        return None
    for item in items:
        if not isinstance(item, list) or len(item) < 2 or not isinstance(item[0], str):
            return None
    return items


def _locked(path: str) -> Any:
    """The journal opened for reading and writing, locked against a second server."""
    f = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+b")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise JournalError(f"{path} is in use by another server") from None
    return f


def _reopened(f: Any, path: str, size: int) -> Any:
    """The journal cut back to `size` after a failed write (a new handle: the old one may still
    hold the unwritten bytes in its buffer)."""
    try:
        f.close()
    except OSError:
        pass
    f = _locked(path)
    f.truncate(size)
    f.seek(size)
    return f


class Journal:
    """Appends items in batches from a trio task; `after_write` callbacks run once the items
    before them are on disk (a submit is acknowledged only when a restarted server would know it)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._pending: list[list[Any]] = []
        self._finishes: list[Any] | None = None  # the "finished_tasks" item at the end of `_pending`
        self._callbacks: list[Callable[[], None]] = []
        self._flush_lock = trio.Lock()
        self._wakeup = trio.Event()
        self._live_bytes: dict[int, int] = {}  # session -> bytes of its items in the file
        self._dead_bytes = 0
        self._next_session = 1
        self._governors: set[str] = set()
        self.incarnation = ""
        self.restored: list[list[Any]] = []
        self._file: Any = None

    def open(self) -> None:
        """Reads what is there (kept in `restored`), then opens the file for appending."""
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        self._file = _locked(self.path)
        if os.path.getsize(self.path):
            self.incarnation, self.restored, valid = read_journal(self.path)
        else:
            valid = 0
        if not self.incarnation:
            self.incarnation = uuid.uuid4().hex
            valid = 0
        self._file.truncate(valid)
        self._file.seek(valid)
        if not valid:
            self._file.write(MAGIC + uuid.UUID(hex=self.incarnation).bytes)
            self._file.flush()
        size = (valid - HEADER_SIZE) // max(len(self.restored), 1)  # an estimate, as for every batch
        self._account([(item[1], size) for item in self.restored], self.restored)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def append(self, item: list[Any]) -> None:
        if item[0] == "finished":
            self._append_finished(item[1], item[2], item[3])
            return
        self._finishes = None
        self._pending.append(item)

    def _append_finished(self, sid: int, task_id: int, outputs: list[Any]) -> None:
        run = self._finishes
        if run is None or run[1] != sid:
            run = self._finishes = ["finished_tasks", sid, [], []]
            self._pending.append(run)
        run[2].append(task_id)
        run[3].append(compact_outputs(outputs))

    def after_write(self, callback: Callable[[], None]) -> None:
        """Calls `callback` once every item appended so far is on disk (soon: it wakes the writer)."""
        self._callbacks.append(callback)
        self._wakeup.set()

    async def serve(self) -> None:
        try:
            while True:
                with trio.move_on_after(FLUSH_PERIOD):
                    await self._wakeup.wait()
                await trio.lowlevel.checkpoint()  # let the handlers of the same burst add their items
                await self.flush()
        finally:
            with trio.CancelScope(shield=True):
                await self.flush()
                self.close()

    async def flush(self) -> None:
        async with self._flush_lock:
            items, self._pending = self._pending, []
            self._finishes = None  # the writer thread has it now
            callbacks, self._callbacks = self._callbacks, []
            self._wakeup = trio.Event()
            if items:
                try:
                    await trio.to_thread.run_sync(self._write, items)
                except OSError as exc:  # a full disk must not stop the server: retried next time
                    self._pending[:0] = items
                    logger.error("journal %s: write failed (%s); the server goes on and retries, but "
                                 "what is not written would be lost with a restart", self.path, exc)
            for callback in callbacks:
                callback()

    # --- the writer thread ----------------------------------------------------------------

    def _write(self, items: list[list[Any]]) -> None:
        payload, sizes = _encode_items(items)
        end = self._file.tell()
        try:
            self._file.write(_record(payload))
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError:
            self._file = _reopened(self._file, self.path, end)  # no torn record before the next ones
            raise
        self._account(sizes, items)
        if self._dead_bytes > COMPACT_MIN and self._dead_bytes > sum(self._live_bytes.values()):
            self._compact()

    def _account(self, sizes: list[tuple[int, int]], items: list[list[Any]]) -> None:
        """Keeps the bytes per live session, the closed sessions' bytes, the governors and the
        next session id: what compaction needs."""
        for (sid, size), item in zip(sizes, items, strict=True):
            kind = item[0]
            if kind == "session":
                self._next_session = max(self._next_session, sid + 1)
            elif kind == "next_session":
                self._next_session = max(self._next_session, item[2])
            elif kind == "governor":
                self._governors.add(item[2])
            elif kind == "governor_lost":
                self._governors.discard(item[2])
            if sid == GLOBAL:
                self._dead_bytes += size
            elif kind == "close":
                self._dead_bytes += self._live_bytes.pop(sid, 0) + size
            else:
                self._live_bytes[sid] = self._live_bytes.get(sid, 0) + size

    def _compact(self) -> None:
        """Rewrites the journal with only the items of live sessions."""
        incarnation, items, _ = read_journal(self.path)
        live = set(self._live_bytes)
        head: list[list[Any]] = [["next_session", GLOBAL, self._next_session]]
        head += [["governor", GLOBAL, g] for g in sorted(self._governors)]
        kept = [item for item in items if item[1] in live]
        tmp = self.path + ".compacting"
        live_bytes: dict[int, int] = {}
        with open(tmp, "wb") as f:
            f.write(MAGIC + uuid.UUID(hex=incarnation).bytes)
            for start in range(0, max(len(kept), 1), 10_000):
                payload, sizes = _encode_items(head + kept[start:start + 10_000])
                head = []
                f.write(_record(payload))
                for sid, size in sizes:
                    if sid != GLOBAL:
                        live_bytes[sid] = live_bytes.get(sid, 0) + size
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._file.close()
        self._file = _locked(self.path)
        self._file.seek(0, os.SEEK_END)
        self._dead_bytes = 0
        self._live_bytes = {sid: live_bytes.get(sid, 0) for sid in live}
        logger.info("journal %s compacted: %d items of %d live sessions", self.path, len(kept), len(live))
