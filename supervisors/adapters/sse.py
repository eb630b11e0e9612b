"""Incremental framing of upstream bodies: Server-Sent Events and NDJSON.

Both framers run in linear time: a read without a line end is only scanned once (in C)
and set aside, never re-scanned or re-copied on the next read, and an unfinished line
is joined once, when its end arrives. Both cap what one event (one NDJSON line) may
hold, ``MAX_EVENT_BYTES`` by default: an upstream that sends more without ending it
fails the call with ``UntranslatableAnswer`` (502) instead of filling memory.
"""

from __future__ import annotations

from ..errors import UntranslatableAnswer

__all__ = ["MAX_EVENT_BYTES", "LineSplitter", "SSEParser"]

#: the largest SSE event (its data) or NDJSON line an upstream may send
MAX_EVENT_BYTES = 1 << 20


def _too_large(limit: int) -> UntranslatableAnswer:
    return UntranslatableAnswer(f"upstream stream event larger than {limit} bytes")


class _Partial:
    """The unfinished last line of what was read: pieces kept apart until its end comes."""

    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)

    def take(self, data: bytes) -> bytes:
        """The partial line with ``data`` appended (``data`` holds the line's end)."""
        if not self.parts:
            return data
        self.parts.append(data)
        joined = b"".join(self.parts)
        self.parts, self.size = [], 0
        return joined


class SSEParser:
    """Splits an SSE byte stream into ``(event, data)`` pairs.

    Only the ``event`` and ``data`` fields matter to us; comments and ``id``/``retry``
    lines are ignored. Multi-line ``data`` is joined with ``\\n`` as the spec says.
    Lines end with LF or CRLF.
    """

    __slots__ = ("_data", "_event", "_limit", "_partial", "_size")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._partial = _Partial()
        self._event: str | None = None
        self._data: list[bytes] = []
        #: bytes of ``data`` gathered for the current event
        self._size = 0
        self._limit = max_event_bytes

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        partial = self._partial
        if (not partial.parts and chunk.find(b"\n") == len(chunk) - 2
                and chunk.endswith(b"\n\n") and chunk.startswith(b"data: ")
                and b"\r" not in chunk and not self._data and self._event is None
                and len(chunk) - 8 <= self._limit):
            return [(None, chunk[6:-2])]  # the usual read: exactly one one-line event
        if b"\n" not in chunk:  # no line ends here: set it aside, unscanned from now on
            if chunk:
                partial.add(chunk)
                if partial.size + self._size > self._limit:
                    raise _too_large(self._limit)
            return []
        buf = partial.take(chunk) if partial.parts else chunk
        if not self._data and self._event is None and b"\r" not in buf:
            return self._feed_fast(buf)
        return self._feed_lines(buf)

    def _feed_fast(self, buf: bytes) -> list[tuple[str | None, bytes]]:
        """The common shape (``data: {...}\n\n`` blocks, LF only), split per block."""
        blocks = buf.split(b"\n\n")
        rest = blocks.pop()
        out: list[tuple[str | None, bytes]] = []
        limit = self._limit
        for i, block in enumerate(blocks):
            if block.startswith(b"data: ") and b"\n" not in block:
                if len(block) - 6 > limit:
                    raise _too_large(limit)
                out.append((None, block[6:]))
            elif block:
                # event:, multi-line data, comments: the general parser takes it from here
                out.extend(self._feed_lines(b"\n\n".join([*blocks[i:], rest])))
                return out
        if b"\n" in rest:  # complete lines of an unfinished event: take them in now
            out.extend(self._feed_lines(rest))
        elif rest:
            self._partial.add(rest)
            if len(rest) > limit:
                raise _too_large(limit)
        return out

    def _feed_lines(self, buf: bytes) -> list[tuple[str | None, bytes]]:
        out: list[tuple[str | None, bytes]] = []
        start = 0
        find = buf.find
        limit = self._limit
        while True:
            end = find(b"\n", start)
            if end < 0:
                break
            line = buf[start:end]
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    out.append((self._event, b"\n".join(self._data)))
                    self._data, self._size = [], 0
                self._event = None
                continue
            if line.startswith(b"data:"):
                value = line[5:]
                value = value[1:] if value.startswith(b" ") else value
                self._data.append(value)
                self._size += len(value) + 1
                if self._size > limit:
                    raise _too_large(limit)
            elif line.startswith(b"event:"):
                self._event = line[6:].strip().decode("utf-8", "replace")
            # comments (":"), id:, retry: and unknown fields are ignored
        if start < len(buf):
            self._partial.add(buf[start:])
            if self._partial.size + self._size > limit:
                raise _too_large(limit)
        return out

    def flush(self) -> list[tuple[str | None, bytes]]:
        """The body ended: emit a final event that had no trailing blank line."""
        out: list[tuple[str | None, bytes]] = []
        if self._partial.parts:
            out = self._feed_lines(self._partial.take(b"\n"))
        if self._data:
            out.append((self._event, b"\n".join(self._data)))
            self._data, self._event, self._size = [], None, 0
        return out


class LineSplitter:
    """Splits NDJSON into complete lines (without the newline), skipping blank ones."""

    __slots__ = ("_limit", "_partial")

    def __init__(self, max_line_bytes: int = MAX_EVENT_BYTES) -> None:
        self._partial = _Partial()
        self._limit = max_line_bytes

    def feed(self, chunk: bytes) -> list[bytes]:
        partial = self._partial
        if b"\n" not in chunk:  # no line ends here: set it aside, unscanned from now on
            if chunk:
                partial.add(chunk)
                if partial.size > self._limit:
                    raise _too_large(self._limit)
            return []
        lines = partial.take(chunk).split(b"\n")
        rest = lines.pop()
        if rest:
            partial.add(rest)
        limit = self._limit
        out = []
        for line in lines:
            if len(line) > limit:
                raise _too_large(limit)
            if line.strip():
                out.append(line)
        if partial.size > limit:
            raise _too_large(limit)
        return out

    def flush(self) -> list[bytes]:
        rest = self._partial.take(b"")
        if len(rest) > self._limit:
            raise _too_large(self._limit)
        return [rest] if rest.strip() else []
