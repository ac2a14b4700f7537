"""Sans-IO framing: a 4-byte big-endian length, then one CBOR item.

The same `FrameReader` serves the trio processes and the blocking client, so only thin I/O
adapters differ. The size limit is checked from the header alone, before buffering a body.
"""

from __future__ import annotations

import struct

HEADER = struct.Struct(">I")
MAX_FRAME_SIZE = 512 * 1024 * 1024
COPY_ONCE_FROM = 64 * 1024  # frames from this size are copied out through a memoryview (cheaper only for big ones)


class ProtocolError(Exception):
    """The peer sent something that is not a valid Rain frame or message."""


class FrameTooLarge(ProtocolError):
    """A frame header announced more bytes than the limit allows."""


def brief(value: object, limit: int = 60) -> str:
    """A repr of a peer's value that is safe to put in a message: bounded, and never raising
    (the repr of an int of more than 4300 digits raises ValueError)."""
    try:
        text = repr(value)
    except ValueError:
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def encode_frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


class FrameReader:
    """Accumulates bytes and cuts them into frames.

    Uses one bytearray plus a read offset; the consumed prefix is dropped only when it is large,
    so many small frames do not cost a quadratic amount of copying.
    """

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self._buffer = bytearray()
        self._offset = 0
        self.max_frame_size = max_frame_size

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buffer += data

    def next_frame(self) -> bytes | None:
        available = len(self._buffer) - self._offset
        if available < HEADER.size:
            return None
        (size,) = HEADER.unpack_from(self._buffer, self._offset)
        if size > self.max_frame_size:
            raise FrameTooLarge(f"frame of {size} bytes exceeds the limit of {self.max_frame_size}")
        if available < HEADER.size + size:
            return None
        start = self._offset + HEADER.size
        if size < COPY_ONCE_FROM:
            frame = bytes(self._buffer[start : start + size])
        else:  # slicing the bytearray would copy the frame twice
            with memoryview(self._buffer) as view:
                frame = bytes(view[start : start + size])
        self._offset = start + size
        if self._offset == len(self._buffer):
            self._buffer.clear()
            self._offset = 0
        elif self._offset > 1 << 20:
            del self._buffer[: self._offset]
            self._offset = 0
        return frame

    def feed_read(self, data: bytearray, n: int) -> bytes | None:
        """Takes the `n` bytes just read into `data`; when nothing was pending and they are
        exactly one frame (the usual read of a request-reply peer), returns it cut straight from
        `data`, without passing through the reader's buffer. Otherwise they are fed (then ask
        `next_frame`) and this returns None."""
        if not self.pending and n > HEADER.size:
            (size,) = HEADER.unpack_from(data)
            if size == n - HEADER.size and size <= self.max_frame_size:
                with memoryview(data) as view:
                    return bytes(view[HEADER.size:n])
        self.feed(data[:n])
        return None

    def take(self, limit: int) -> bytes:
        """Up to `limit` bytes received but not yet cut into frames, consumed: the start of an
        unframed body that arrived with the frame announcing it."""
        end = min(len(self._buffer), self._offset + limit)
        data = bytes(self._buffer[self._offset : end])
        self._offset = end
        if self._offset == len(self._buffer):
            self._buffer.clear()
            self._offset = 0
        return data

    @property
    def pending(self) -> int:
        """Bytes received but not yet returned as frames (non-zero at EOF = truncated frame)."""
        return len(self._buffer) - self._offset
