"""OpenAI objects built by the translating adapters (``anthropic``, ``ollama``).

Pure helpers: chat.completion / chunk / usage dicts, reading OpenAI message content,
data URLs, tool-call arguments, and the wrapper that turns a chat stream into a legacy
``text_completion`` stream.

No adapter reads a clock: ``created`` is whatever the upstream reported, or ``0`` when
it reported nothing (Anthropic); the worker may stamp it.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from ..errors import InvalidRequest, UpstreamError
from ..messages import Chunk, Op, Result
from .base import StreamDecoder
from .completions import chat_chunk_to_completion, chat_to_completion

__all__ = [
    "CompletionsStream",
    "chat_completion",
    "chunk",
    "content_text",
    "floats_base64",
    "load_object",
    "max_tokens_of",
    "parse_data_url",
    "stop_list",
    "to_op_result",
    "tool_arguments",
    "usage",
    "wants_usage",
]


def usage(prompt: int, completion: int, cached: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out


def chat_completion(
    id_: str,
    created: int,
    model: str,
    message: dict[str, Any],
    finish_reason: str | None,
    usage_: dict[str, Any] | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": id_,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
    }
    if usage_ is not None:
        out["usage"] = usage_
    return out


def chunk(
    id_: str,
    created: int,
    model: str,
    delta: dict[str, Any] | None,
    finish_reason: str | None = None,
    usage_: dict[str, Any] | None = None,
) -> Chunk:
    """One ``chat.completion.chunk``; ``delta=None`` is the usage-only chunk (no choices)."""
    obj: dict[str, Any] = {
        "id": id_,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if usage_ is not None:
        obj["usage"] = usage_
    return Chunk(obj)


def wants_usage(request: dict[str, Any]) -> bool:
    options = request.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def load_object(body: bytes) -> dict[str, Any]:
    """A JSON object from an upstream success body, or ``UpstreamError``."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError("upstream returned invalid JSON") from exc
    if not isinstance(obj, dict):
        raise UpstreamError("upstream returned a non-object JSON body")
    return obj


def content_text(content: Any, *, param: str = "messages") -> str:
    """The text of a message whose content is a string or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in ("text", "refusal"):
                raise InvalidRequest(
                    "only text content parts are allowed in this message", param=param
                )
            texts.append(str(part.get("text") if part["type"] == "text" else part.get("refusal")))
        return "\n".join(texts)
    raise InvalidRequest("message content must be a string or a list of parts", param=param)


def parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:<media type>;base64,<data>`` → ``(media type, base64 data)``; else ``None``."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        raise InvalidRequest("image data URLs must be base64-encoded", param="messages")
    return header[: -len(";base64")] or "application/octet-stream", data


def tool_arguments(raw: Any) -> dict[str, Any]:
    """An assistant tool call's ``arguments`` JSON string as an object."""
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest(
            "tool call arguments must be a JSON object encoded as a string", param="messages"
        )
    return value


def max_tokens_of(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens")
    if value is None:
        value = body.get("max_tokens")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest("max_tokens must be a positive integer", param="max_tokens")
    return value


def stop_list(stop: Any) -> list[str] | None:
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return list(stop) or None
    raise InvalidRequest("stop must be a string or a list of strings", param="stop")


def floats_base64(vector: list[float]) -> str:
    """OpenAI's ``encoding_format: base64``: little-endian float32, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def to_op_result(op: Op, obj: dict[str, Any]) -> Result:
    return Result(chat_to_completion(obj) if op == "completions" else obj)


class CompletionsStream:
    """Wraps a chat stream decoder so it yields ``text_completion`` chunks.

    Chunks that carry nothing for a text completion (the role-only first chunk) are dropped.
    """

    __slots__ = ("_inner", "done", "malformed", "usage")

    def __init__(self, inner: StreamDecoder) -> None:
        self._inner = inner
        self.done = False
        self.usage: dict[str, Any] | None = None
        self.malformed = 0

    def feed(self, data: bytes) -> list[Chunk]:
        try:
            return self._convert(self._inner.feed(data))
        finally:
            self._sync()

    def close(self) -> list[Chunk]:
        try:
            return self._convert(self._inner.close())
        finally:
            self._sync()

    def _sync(self) -> None:
        inner = self._inner
        self.done, self.usage, self.malformed = inner.done, inner.usage, inner.malformed

    @staticmethod
    def _convert(chunks: list[Chunk]) -> list[Chunk]:
        out = []
        for c in chunks:
            obj = chat_chunk_to_completion(c.obj)
            choices = obj["choices"]
            if choices and not any(ch["text"] or ch["finish_reason"] for ch in choices):
                continue
            out.append(Chunk(obj))
        return out
