"""The load generator's HTTP/1.1 client: one keep-alive connection per ``Conn``, a raw
asyncio protocol (cheap enough that the generator is never the bottleneck).

Every response is checked: status 200; a JSON body with ``choices``; or, for a stream,
chunked framing, every SSE event ``data: <json>`` with ``choices``, ``data: [DONE]`` last
(for the Responses API: typed events, text deltas counted, ``response.completed`` last)
and exactly the expected number of chunks. Anything else is an error or a malformed event.
Anthropic Messages answers are checked the same way: a ``message`` with content, or
``event: <type>`` events whose ``content_block_delta`` count as chunks, ending with
``message_stop``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import cast

import orjson

__all__ = ["Conn", "Outcome", "build_request"]

_MAX_HEAD = 64 * 1024


def build_request(host: str, port: int, path: str, body: bytes, token: str | None) -> bytes:
    auth = b"Authorization: Bearer %s\r\n" % token.encode() if token else b""
    return (b"POST %s HTTP/1.1\r\nHost: %s:%d\r\n%sContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s"
            % (path.encode(), host.encode(), port, auth, len(body), body))


@dataclass(slots=True)
class Outcome:
    ok: bool
    status: int = 0
    #: perf_counter when the response was complete
    done_at: float = 0.0
    #: perf_counter of the first SSE chunk with choices (streams)
    first_chunk_at: float | None = None
    chunks: int = 0
    malformed: int = 0
    error: str | None = None


class Conn(asyncio.Protocol):
    """One connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._waiter: asyncio.Future[Outcome] | None = None
        self._reset(None)

    @classmethod
    async def open(cls, host: str, port: int) -> Conn:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(cls, host, port)
        return conn

    def _reset(self, expect: int | None) -> None:
        self._buf = b""
        self._expect = expect  # None: unary JSON; else the number of stream chunks
        self._status = 0
        self._length = -1  # content-length, or -1 for chunked
        self._head_done = False
        self._chunk_left = -1  # bytes left in the current HTTP chunk (+2 for CRLF), -1: size line
        self._sse = b""
        self._out = Outcome(ok=False)
        self._sse_done = False
        self._keep_alive = True

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def request(self, raw: bytes, expect: int | None, deadline_s: float) -> Outcome:
        if self.closed or self.transport is None:
            return Outcome(ok=False, error="connection closed")
        self._reset(expect)
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        try:
            async with asyncio.timeout(deadline_s):
                return await self._waiter
        except TimeoutError:
            self.close()
            return Outcome(ok=False, error="timeout", chunks=self._out.chunks)
        finally:
            self._waiter = None

    # -- protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        self._finish(False, "connection lost")

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            return  # unsolicited bytes: ignore (the server closes or we do)
        self._buf += data
        try:
            self._parse()
        except ValueError as exc:
            self._finish(False, f"bad response: {exc}")
            self.close()

    def _finish(self, ok: bool, error: str | None) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        out = self._out
        out.ok, out.error, out.status = ok, error, self._status
        out.done_at = time.perf_counter()
        waiter.set_result(out)
        if not self._keep_alive:
            self.close()

    def _parse(self) -> None:
        if not self._head_done:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > _MAX_HEAD:
                    raise ValueError("header too large")
                return
            self._head(self._buf[:end])
            self._buf = self._buf[end + 4:]
        if self._length >= 0:
            if len(self._buf) >= self._length:
                body, self._buf = self._buf[:self._length], self._buf[self._length:]
                self._body(body)
            return
        self._chunked()

    def _head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ValueError("bad status line")
        self._status = int(parts[1])
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                self._length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.strip().lower() == b"close":
                self._keep_alive = False
        if chunked:
            self._length = -1
        elif self._length < 0:
            raise ValueError("neither content-length nor chunked")
        self._head_done = True

    def _chunked(self) -> None:
        buf = self._buf
        pos = 0
        while True:
            if self._chunk_left < 0:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                size = int(buf[pos:eol].split(b";", 1)[0], 16)
                if size == 0:
                    if len(buf) - (eol + 2) < 2:
                        break  # wait for the final CRLF (no trailers expected)
                    if buf[eol + 2:eol + 4] != b"\r\n":
                        raise ValueError("trailers after the last chunk")
                    self._buf = buf[eol + 4:]
                    self._end_stream()
                    return
                pos = eol + 2
                self._chunk_left = size + 2
            if len(buf) - pos < self._chunk_left:
                break
            data = buf[pos:pos + self._chunk_left - 2]
            if buf[pos + self._chunk_left - 2:pos + self._chunk_left] != b"\r\n":
                raise ValueError("bad chunk framing")
            pos += self._chunk_left
            self._chunk_left = -1
            self._feed(data)
        self._buf = buf[pos:]

    def _feed(self, data: bytes) -> None:
        if self._expect is None:
            self._sse += data  # a chunked JSON body
            return
        sse = self._sse + data if self._sse else data
        out = self._out
        start = 0
        while True:
            end = sse.find(b"\n\n", start)
            if end < 0:
                break
            event = sse[start:end]
            start = end + 2
            if event.startswith(b"event: "):  # Responses API: typed events
                event = event[event.find(b"\n") + 1:] if b"\n" in event else b""
            if not event.startswith(b"data: ") or self._sse_done:
                out.malformed += 1
                continue
            payload = event[6:]
            if payload == b"[DONE]":
                self._sse_done = True
                continue
            try:
                obj = orjson.loads(payload)
            except orjson.JSONDecodeError:
                out.malformed += 1
                continue
            if not isinstance(obj, dict):
                out.malformed += 1
            elif "type" in obj and "sequence_number" in obj:
                self._typed(obj)
            elif isinstance(obj.get("type"), str) and "choices" not in obj:
                self._anthropic(obj)
            elif obj.get("choices"):
                out.chunks += 1
                if out.first_chunk_at is None:
                    out.first_chunk_at = time.perf_counter()
            elif "error" in obj:
                out.error = f"in-band error: {obj['error']}"
        self._sse = sse[start:]

    def _typed(self, obj: dict[str, object]) -> None:
        """A Responses API event: text deltas count as chunks, ``response.completed`` ends
        the stream like ``[DONE]``."""
        out = self._out
        kind = obj["type"]
        if kind == "response.output_text.delta":
            out.chunks += 1
            if out.first_chunk_at is None:
                out.first_chunk_at = time.perf_counter()
        elif kind == "response.completed":
            self._sse_done = True
        elif kind in ("response.failed", "response.incomplete", "error"):
            out.error = f"in-band {kind}"

    def _anthropic(self, obj: dict[str, object]) -> None:
        """An Anthropic Messages event: content deltas count as chunks, ``message_stop``
        ends the stream like ``[DONE]``."""
        out = self._out
        kind = obj["type"]
        if kind == "content_block_delta":
            out.chunks += 1
            if out.first_chunk_at is None:
                out.first_chunk_at = time.perf_counter()
        elif kind == "message_stop":
            self._sse_done = True
        elif kind == "error":
            out.error = f"in-band error: {obj.get('error')}"

    def _end_stream(self) -> None:
        if self._expect is None:
            self._body(self._sse)
            return
        out = self._out
        if self._status != 200:
            self._finish(False, f"HTTP {self._status}")
        elif out.error is not None:
            self._finish(False, out.error)
        elif self._sse.strip():
            out.malformed += 1
            self._finish(False, "trailing bytes after the last event")
        elif not self._sse_done:
            self._finish(False, "stream ended without [DONE]")
        elif out.chunks != self._expect:
            self._finish(False, f"got {out.chunks} chunks, expected {self._expect}")
        elif out.malformed:
            self._finish(False, "malformed SSE")
        else:
            self._finish(True, None)

    def _body(self, body: bytes) -> None:
        if self._status != 200:
            self._finish(False, f"HTTP {self._status}: {body[:200]!r}")
            return
        if self._expect is not None:
            self._finish(False, "expected a stream, got a JSON body")
            return
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            self._finish(False, "invalid JSON body")
            return
        if isinstance(obj, dict) and (
            obj.get("choices") or (obj.get("object") == "response"
                                   and obj.get("status") == "completed")
                or (obj.get("type") == "message" and obj.get("content"))):
            self._finish(True, None)
        else:
            self._finish(False, "JSON body without choices (or Messages content)")
