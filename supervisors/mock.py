"""The ``mock`` provider: an in-process, deterministic OpenAI-compatible upstream.

It sits behind the same adapter, worker and decoder as a real OpenAI provider, so demos
and load tests exercise the real path. Settings (provider ``config``):
``latency_ms`` (before the first byte), ``chunk_delay_ms`` (between stream chunks),
``response`` (fixed answer text) or ``tokens`` (answer of N tokens; ``stop`` and
``max_tokens`` of the request are honoured), and for fault
drills ``crash_marker``: a prompt containing it makes the worker raise (a "bug").
With ``tools``, a last user message containing ``call tool`` is answered with one call to
the first tool (arguments ``{}``, or the JSON object after ``call tool with``), unless a
tool result already follows it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
import time
from collections.abc import Mapping
from typing import Any

import orjson

from .adapters.base import UpstreamRequest
from .spec import ProviderSpec

__all__ = ["MockTransport"]

_HEADERS: Mapping[str, str] = {"content-type": "application/json"}
_SSE_HEADERS: Mapping[str, str] = {"content-type": "text/event-stream"}
_JSON = json.JSONDecoder()


def _last_user_text(messages: Any) -> str:
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return " ".join(
                        p.get("text", "") for p in content if isinstance(p, dict)
                    )
    return ""


def _tool_call(body: Mapping[str, Any], prompt: str) -> dict[str, Any] | None:
    tools, messages = body.get("tools"), body.get("messages")
    if not isinstance(tools, list) or not tools or not isinstance(messages, list):
        return None
    if "call tool" not in prompt or not isinstance(tools[0], dict):
        return None
    last_user = max((i for i, m in enumerate(messages)
                     if isinstance(m, dict) and m.get("role") == "user"), default=-1)
    if any(isinstance(m, dict) and m.get("role") == "tool" for m in messages[last_user + 1:]):
        return None
    name = (tools[0].get("function") or {}).get("name") or "tool"
    arguments = "{}"
    start = prompt.find("call tool with {")
    if start >= 0:
        try:
            value, _ = _JSON.raw_decode(prompt[start + len("call tool with "):])
            arguments = orjson.dumps(value).decode() if isinstance(value, dict) else "{}"
        except ValueError:
            pass
    call_id = "call_mock" + hashlib.md5(prompt.encode()).hexdigest()[:16]
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _answer_tokens(extra: Mapping[str, Any], prompt: str) -> list[str]:
    if isinstance(extra.get("tokens"), int):
        return [f"tok{i} " for i in range(extra["tokens"])]
    text = extra.get("response") or f"This is a mock response to: {prompt[:200]}"
    words = str(text).split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


def _apply_stop(tokens: list[str], stop: Any) -> list[str]:
    """The answer cut before the first stop sequence in it (OpenAI's ``stop``)."""
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    text = "".join(tokens)
    cuts = [text.find(s) for s in stops if isinstance(s, str) and s and s in text]
    if not cuts:
        return tokens
    cut, out, offset = min(cuts), [], 0
    for token in tokens:
        if offset >= cut:
            break
        out.append(token[: cut - offset])
        offset += len(token)
    return [t for t in out if t]


def _embedding(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest() * (dims // 8 + 1)
    values = struct.unpack(f"<{dims}H", digest[: dims * 2]) if dims * 2 <= len(digest) else ()
    if not values:
        values = tuple(range(1, dims + 1))
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in values]


class _MockResponse:
    __slots__ = ("_events", "_delay", "_index", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], events: list[bytes], delay: float):
        self.status = status
        self.headers = headers
        self._events = events
        self._delay = delay
        self._index = 0

    async def read(self, limit: int) -> bytes:
        return b"".join(self._events)

    async def readany(self) -> bytes:
        if self._index >= len(self._events):
            return b""
        if self._delay and self._index:
            await asyncio.sleep(self._delay)
        event = self._events[self._index]
        self._index += 1
        return event

    def close(self) -> None:
        self._index = len(self._events)


class MockTransport:
    def __init__(self, spec: ProviderSpec) -> None:
        extra = spec.config.extra
        self._extra = extra
        self._latency = float(extra.get("latency_ms", 0)) / 1000.0
        self._chunk_delay = float(extra.get("chunk_delay_ms", 0)) / 1000.0

    async def send(
        self, req: UpstreamRequest, *, connect_timeout: float, idle_timeout: float | None
    ) -> _MockResponse:
        if self._latency:
            await asyncio.sleep(self._latency)
        body = orjson.loads(req.body or b"{}")
        model = body.get("model", "mock")
        created = int(time.time())
        if req.url.endswith("/embeddings"):
            inputs = body.get("input")
            items = inputs if isinstance(inputs, list) else [inputs]
            data = [
                {"object": "embedding", "index": i, "embedding": _embedding(str(t), 8)}
                for i, t in enumerate(items)
            ]
            obj = {"object": "list", "data": data, "model": model,
                   "usage": {"prompt_tokens": len(items), "total_tokens": len(items)}}
            return _MockResponse(200, _HEADERS, [orjson.dumps(obj)], 0.0)
        legacy = req.url.endswith("/completions") and not req.url.endswith("/chat/completions")
        prompt = str(body.get("prompt", "")) if legacy else _last_user_text(body.get("messages"))
        marker = self._extra.get("crash_marker")
        if marker and marker in prompt:
            raise RuntimeError("mock provider crash drill")
        tokens = _answer_tokens(self._extra, prompt)
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        tokens = _apply_stop(tokens, body.get("stop"))
        if isinstance(max_tokens, int) and 0 < max_tokens < len(tokens):
            tokens, finish = tokens[:max_tokens], "length"
        usage = {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len(tokens),
            "total_tokens": len(prompt.split()) + len(tokens),
        }
        rid = "chatcmpl-mock" + hashlib.md5(prompt.encode()).hexdigest()[:12]
        call = None if legacy else _tool_call(body, prompt)
        if call is not None:
            return _tool_answer(rid, created, model, call, len(prompt.split()), body)
        if body.get("stream"):
            events = self._stream_events(rid, created, model, tokens, finish, usage, legacy, body)
            return _MockResponse(200, _SSE_HEADERS, events, self._chunk_delay)
        text = "".join(tokens)
        if legacy:
            choice: dict[str, Any] = {"index": 0, "text": text, "logprobs": None,
                                      "finish_reason": finish}
            obj = {"id": rid, "object": "text_completion", "created": created, "model": model,
                   "choices": [choice], "usage": usage}
        else:
            choice = {"index": 0, "message": {"role": "assistant", "content": text},
                      "logprobs": None, "finish_reason": finish}
            obj = {"id": rid, "object": "chat.completion", "created": created, "model": model,
                   "choices": [choice], "usage": usage}
        return _MockResponse(200, _HEADERS, [orjson.dumps(obj)], 0.0)

    @staticmethod
    def _stream_events(
        rid: str, created: int, model: str, tokens: list[str], finish: str,
        usage: dict[str, int], legacy: bool, body: dict[str, Any],
    ) -> list[bytes]:
        kind = "text_completion" if legacy else "chat.completion.chunk"
        base = {"id": rid, "object": kind, "created": created, "model": model}

        def event(choice: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> bytes:
            obj = {**base, "choices": [choice] if choice else []}
            if extra:
                obj.update(extra)
            return b"data: " + orjson.dumps(obj) + b"\n\n"

        events: list[bytes] = []
        for i, token in enumerate(tokens):
            if legacy:
                choice = {"index": 0, "text": token, "logprobs": None, "finish_reason": None}
            else:
                delta = {"role": "assistant", "content": token} if i == 0 else {"content": token}
                choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
            events.append(event(choice))
        last = ({"index": 0, "text": "", "logprobs": None, "finish_reason": finish} if legacy
                else {"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish})
        events.append(event(last))
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            events.append(event(None, {"usage": usage}))
        events.append(b"data: [DONE]\n\n")
        return events


def _tool_answer(rid: str, created: int, model: str, call: dict[str, Any], prompt_tokens: int,
                 body: Mapping[str, Any]) -> _MockResponse:
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 1,
             "total_tokens": prompt_tokens + 1}
    if not body.get("stream"):
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        obj = {"id": rid, "object": "chat.completion", "created": created, "model": model,
               "choices": [{"index": 0, "message": message, "logprobs": None,
                            "finish_reason": "tool_calls"}], "usage": usage}
        return _MockResponse(200, _HEADERS, [orjson.dumps(obj)], 0.0)
    base = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model}
    first = {"index": 0, "delta": {"role": "assistant", "content": None,
                                   "tool_calls": [{"index": 0, **call}]},
             "logprobs": None, "finish_reason": None}
    last = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}
    events = [b"data: " + orjson.dumps({**base, "choices": [c]}) + b"\n\n" for c in (first, last)]
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        events.append(b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return _MockResponse(200, _SSE_HEADERS, events, 0.0)
