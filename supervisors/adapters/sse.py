"""Incremental framing of upstream bodies: Server-Sent Events and NDJSON."""

from __future__ import annotations

__all__ = ["LineSplitter", "SSEParser"]


class SSEParser:
    """Splits an SSE byte stream into ``(event, data)`` pairs.

    Only the ``event`` and ``data`` fields matter to us; comments and ``id``/``retry``
    lines are ignored. Multi-line ``data`` is joined with ``\\n`` as the spec says.
    """

    __slots__ = ("_buf", "_data", "_event")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        buf = self._buf + chunk if self._buf else chunk
        if not self._data and self._event is None and b"\r" not in buf:
            return self._feed_fast(buf)
        return self._feed_lines(buf)

    def _feed_fast(self, buf: bytes) -> list[tuple[str | None, bytes]]:
        """The common shape (``data: {...}\n\n`` blocks, LF only), split per block."""
        blocks = buf.split(b"\n\n")
        rest = blocks.pop()
        out: list[tuple[str | None, bytes]] = []
        for i, block in enumerate(blocks):
            if block.startswith(b"data: ") and b"\n" not in block:
                out.append((None, block[6:]))
            elif block:
                # event:, multi-line data, comments: the general parser takes it from here
                self._buf = b""
                out.extend(self._feed_lines(b"\n\n".join([*blocks[i:], rest])))
                return out
        self._buf = rest
        return out

    def _feed_lines(self, buf: bytes) -> list[tuple[str | None, bytes]]:
        out: list[tuple[str | None, bytes]] = []
        start = 0
        find = buf.find
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
                    self._data = []
                self._event = None
                continue
            if line.startswith(b"data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(b" ") else value)
            elif line.startswith(b"event:"):
                self._event = line[6:].strip().decode("utf-8", "replace")
            # comments (":"), id:, retry: and unknown fields are ignored
        self._buf = buf[start:]
        return out

    def flush(self) -> list[tuple[str | None, bytes]]:
        """The body ended: emit a final event that had no trailing blank line."""
        out: list[tuple[str | None, bytes]] = []
        if self._buf:
            buf, self._buf = self._buf, b""
            out = self._feed_lines(buf + b"\n")
        if self._data:
            out.append((self._event, b"\n".join(self._data)))
            self._data, self._event = [], None
        return out


class LineSplitter:
    """Splits NDJSON into complete lines (without the newline), skipping blank ones."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._buf + chunk if self._buf else chunk
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        return [line for line in lines if line.strip()]

    def flush(self) -> list[bytes]:
        rest, self._buf = self._buf, b""
        return [rest] if rest.strip() else []
