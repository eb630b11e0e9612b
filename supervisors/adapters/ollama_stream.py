"""Ollama ``/api/chat`` answers → OpenAI objects: one response, or NDJSON stream lines.

Ollama reports no ids: the completion id is derived from the model and ``created_at``
(``chatcmpl-`` + 24 hex digits) and tool calls without an id get ``call_<n>``, ``n`` the
running index within the answer. ``created`` is ``created_at`` as epoch seconds.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson

from ..errors import StreamBroken
from ..messages import Chunk
from .base import PendingError
from .openai_shapes import chat_completion, chunk, usage
from .sse import LineSplitter

__all__ = ["OllamaStreamDecoder", "chat_result", "completion_id", "created_of", "ollama_usage"]

_FINISH = {"stop": "stop", "length": "length"}


def completion_id(obj: dict[str, Any]) -> str:
    seed = f"{obj.get('model')}|{obj.get('created_at')}".encode()
    return "chatcmpl-" + hashlib.sha1(seed, usedforsecurity=False).hexdigest()[:24]


def created_of(obj: dict[str, Any]) -> int:
    value = obj.get("created_at")
    if not isinstance(value, str):
        return 0
    try:
        return int(datetime.fromisoformat(value).timestamp())
    except ValueError:
        return 0


def ollama_usage(obj: dict[str, Any]) -> dict[str, Any]:
    """``prompt_eval_count`` is absent when the whole prompt came from Ollama's cache."""
    prompt, completion = obj.get("prompt_eval_count"), obj.get("eval_count")
    return usage(
        prompt if isinstance(prompt, int) else 0, completion if isinstance(completion, int) else 0
    )


def _finish(obj: dict[str, Any], has_tool_calls: bool) -> str:
    if has_tool_calls:
        return "tool_calls"
    return _FINISH.get(str(obj.get("done_reason") or "stop"), "stop")


def _tool_call(call: Any, index: int) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        raise ValueError("tool call without a function")
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = orjson.dumps(arguments if arguments is not None else {}).decode()
    return {
        "id": str(call.get("id") or f"call_{index}"),
        "type": "function",
        "function": {"name": str(function.get("name") or ""), "arguments": arguments},
    }


def chat_result(obj: dict[str, Any], model: str) -> dict[str, Any]:
    """A complete (``stream: false``) ``/api/chat`` answer as a ``chat.completion``."""
    message = obj.get("message")
    if not isinstance(message, dict):
        message = {}
    calls = [_tool_call(c, i) for i, c in enumerate(message.get("tool_calls") or ())]
    text = str(message.get("content") or "")
    out: dict[str, Any] = {
        "role": "assistant",
        "content": text if text or not calls else None,
        "refusal": None,
    }
    if calls:
        out["tool_calls"] = calls
    return chat_completion(
        completion_id(obj),
        created_of(obj),
        str(obj.get("model") or model),
        out,
        _finish(obj, bool(calls)),
        ollama_usage(obj),
    )


class OllamaStreamDecoder(PendingError):
    """NDJSON lines of ``/api/chat`` (``stream: true``) → ``chat.completion.chunk`` objects.

    The first line yields the role chunk; ``message.content`` yields content deltas;
    ``message.tool_calls`` (always complete in Ollama) yields whole tool-call chunks; the
    ``done: true`` line yields the finish chunk and, when asked for, the usage chunk. An
    ``{"error": ...}`` line raises ``StreamBroken`` (after the chunks before it).
    """

    __slots__ = (
        "_calls",
        "_created",
        "_id",
        "_lines",
        "_model",
        "_started",
        "_wants_usage",
        "done",
        "malformed",
        "usage",
    )

    def __init__(self, wants_usage: bool, model: str) -> None:
        self._lines = LineSplitter()
        self._wants_usage = wants_usage
        self._model = model
        self._id = ""
        self._created = 0
        self._started = False
        self._calls = 0
        self._error = None
        self.done = False
        self.usage: dict[str, Any] | None = None
        self.malformed = 0

    def feed(self, data: bytes) -> list[Chunk]:
        self._raise_pending()
        return self._translate(self._lines.feed(data))

    def close(self) -> list[Chunk]:
        self._raise_pending()
        out = self._translate(self._lines.flush())
        if not out:
            self._raise_pending()
        return out

    def _translate(self, lines: list[bytes]) -> list[Chunk]:
        out: list[Chunk] = []
        for line in lines:
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                self.malformed += 1
                continue
            if not isinstance(obj, dict):
                self.malformed += 1
                continue
            if "error" in obj:
                error = StreamBroken(f"upstream stream error: {obj['error']}")
                if not out:
                    raise error
                self._error = error
                break
            try:
                self._line(obj, out)
            except (TypeError, ValueError, AttributeError):
                self.malformed += 1
        return out

    def _emit(self, out: list[Chunk], delta: dict[str, Any] | None, **kw: Any) -> None:
        out.append(chunk(self._id, self._created, self._model, delta, **kw))

    def _line(self, obj: dict[str, Any], out: list[Chunk]) -> None:
        if not self._started:
            self._started = True
            self._id, self._created = completion_id(obj), created_of(obj)
            self._model = str(obj.get("model") or self._model)
            self._emit(out, {"role": "assistant", "content": ""})
        message = obj.get("message")
        if isinstance(message, dict):
            if message.get("content"):
                self._emit(out, {"content": str(message["content"])})
            for call in message.get("tool_calls") or ():
                delta = {"index": self._calls, **_tool_call(call, self._calls)}
                self._emit(out, {"tool_calls": [delta]})
                self._calls += 1
        if obj.get("done"):
            self.usage = ollama_usage(obj)
            self._emit(out, {}, finish_reason=_finish(obj, self._calls > 0))
            if self._wants_usage:
                self._emit(out, None, usage_=self.usage)
            self.done = True
