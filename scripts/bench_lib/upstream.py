"""A fast fake OpenAI upstream: a raw asyncio protocol on uvloop, HTTP/1.1 keep-alive.

    python -m scripts.bench_lib.upstream --port 9100

``POST /v1/chat/completions`` answers a fixed completion, or with ``"stream": true`` an
SSE stream; ``POST /v1/messages`` the same in Anthropic's Messages shapes. The model name steers it: ``bench-c<N>-d<MS>`` sends N content chunks with
MS milliseconds between them (``d0``: no delay, but one write per chunk, yielding to the
loop in between, like a real token stream). ``stream_options.include_usage`` adds the
usage chunk. ``GET /health`` answers 200. Anything else: 404.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
from typing import cast

import orjson
import uvloop

__all__ = ["chunk_event", "parse_model", "serve"]

_MODEL = re.compile(r"bench-c(\d+)-d(\d+)")
_CREATED = 1_700_000_000


def parse_model(model: str) -> tuple[int, float]:
    """``bench-c100-d20`` → (100 chunks, 0.020 s between them); anything else → (16, 0)."""
    m = _MODEL.fullmatch(model)
    if m is None:
        return 16, 0.0
    return max(1, int(m.group(1))), int(m.group(2)) / 1000.0


def chunk_event(model: str, index: int, last: bool) -> bytes:
    """One SSE event (``data: {...}\\n\\n``) shaped like OpenAI's chat.completion.chunk."""
    delta = {"role": "assistant", "content": "tok "} if index == 0 else {"content": "tok "}
    obj = {
        "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": _CREATED,
        "model": model, "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None,
                     "finish_reason": "stop" if last else None}],
    }
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _completion(model: str) -> bytes:
    return orjson.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": _CREATED,
        "model": model, "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the bench."},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    })


def _usage_event(model: str, chunks: int) -> bytes:
    obj = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": _CREATED,
           "model": model, "choices": [],
           "usage": {"prompt_tokens": 12, "completion_tokens": chunks,
                     "total_tokens": 12 + chunks}}
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _message(model: str) -> bytes:
    """An Anthropic Messages answer."""
    return orjson.dumps({
        "id": "msg_bench", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "Hello from the bench."}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 5, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0},
    })


def _anthropic_event(name: str, obj: dict[str, object]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def _message_events(model: str, chunks: int) -> list[bytes]:
    """An Anthropic Messages stream, ``message_stop`` left for the tail: the head events
    ride with the first text delta, then one event per content chunk."""
    start = _anthropic_event("message_start", {"type": "message_start", "message": {
        "id": "msg_bench", "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1}}})
    block = _anthropic_event("content_block_start", {
        "type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    delta = _anthropic_event("content_block_delta", {
        "type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "tok "}})
    end = (_anthropic_event("content_block_stop", {"type": "content_block_stop", "index": 0})
           + _anthropic_event("message_delta", {
               "type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                  "stop_sequence": None},
               "usage": {"output_tokens": chunks}}))
    events = [start + block + delta] + [delta] * (chunks - 1)
    events[-1] += end
    return events


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


_SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
             b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
_OK_EMPTY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class _Upstream(asyncio.Protocol):
    """One client connection; requests are answered in order (no pipelining overlap)."""

    def __init__(self, tasks: set[asyncio.Task[None]], cache: dict[str, list[bytes]]) -> None:
        self._buf = b""
        self._tasks = tasks
        self._cache = cache  # per server: model -> [completion response, *stream events]
        self._transport: asyncio.Transport | None = None
        self._busy: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._busy is not None:
            self._busy.cancel()

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._busy is None:
            self._drain()

    def _drain(self) -> None:
        while self._transport is not None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._buf[:end].decode("latin-1")
            lines = head.split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if len(self._buf) < end + 4 + length:
                return
            body = self._buf[end + 4:end + 4 + length]
            self._buf = self._buf[end + 4 + length:]
            if method == "POST" and path.startswith("/v1/messages"):
                req = orjson.loads(body)
                model = str(req.get("model", "bench"))
                if req.get("stream") is True:
                    task = asyncio.ensure_future(self._stream(model, False, anthropic=True))
                    self._busy = task
                    self._tasks.add(task)
                    task.add_done_callback(self._stream_done)
                    return
                self._transport.write(self._messages(model)[0])
            elif method == "POST" and path.endswith("/chat/completions"):
                req = orjson.loads(body)
                model = str(req.get("model", "bench"))
                if req.get("stream") is True:
                    options = req.get("stream_options") or {}
                    task = asyncio.ensure_future(self._stream(model, bool(options.get("include_usage"))))
                    self._busy = task
                    self._tasks.add(task)
                    task.add_done_callback(self._stream_done)
                    return
                self._transport.write(self._completion_response(model))
            elif method == "GET" and path == "/health":
                self._transport.write(_OK_EMPTY)
            else:
                self._transport.write(_NOT_FOUND)

    def _prepared(self, model: str) -> list[bytes]:
        cached = self._cache.get(model)
        if cached is None:
            body = _completion(model)
            chunks, _ = parse_model(model)
            cached = [b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body)]
            cached += [_http_chunk(chunk_event(model, i, i == chunks - 1)) for i in range(chunks)]
            if len(self._cache) < 1000:
                self._cache[model] = cached
        return cached

    def _messages(self, model: str) -> list[bytes]:
        key = "anthropic:" + model
        cached = self._cache.get(key)
        if cached is None:
            body = _message(model)
            chunks, _ = parse_model(model)
            cached = [b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body)]
            cached += [_http_chunk(e) for e in _message_events(model, chunks)]
            if len(self._cache) < 1000:
                self._cache[key] = cached
        return cached

    def _completion_response(self, model: str) -> bytes:
        return self._prepared(model)[0]

    def _stream_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._busy = None
        if not task.cancelled() and self._transport is not None:
            self._drain()

    async def _stream(self, model: str, usage: bool, anthropic: bool = False) -> None:
        chunks, delay = parse_model(model)
        events = (self._messages(model) if anthropic else self._prepared(model))[1:]
        transport = self._transport
        assert transport is not None
        transport.write(_SSE_HEAD)
        for event in events:
            if self._transport is None:
                return
            transport.write(event)
            await asyncio.sleep(delay)
        if anthropic:
            tail = _anthropic_event("message_stop", {"type": "message_stop"})
        else:
            tail = (_usage_event(model, chunks) if usage else b"") + b"data: [DONE]\n\n"
        if self._transport is not None:
            transport.write(_http_chunk(tail) + b"0\r\n\r\n")


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    cache: dict[str, list[bytes]] = {}
    server = await loop.create_server(lambda: _Upstream(tasks, cache), host, port, backlog=4096)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"fake upstream listening on {host}:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fast fake OpenAI upstream for the bench")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvloop.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
