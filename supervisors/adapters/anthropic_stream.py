"""Anthropic Messages stream events → OpenAI ``chat.completion.chunk`` objects.

Event by event: ``message_start`` gives the id, model and input usage and yields the
role chunk; a ``tool_use`` block start yields the first tool-call chunk (id, name, empty
arguments) at the next running tool index; ``text_delta`` and ``input_json_delta`` yield
content and argument deltas; ``message_delta`` yields the finish chunk and the output
usage; ``message_stop`` marks the stream done (after the usage chunk, when the client
asked for it). ``ping``, thinking and unknown events are ignored; an ``error`` event
raises ``StreamBroken``. Chunks translated before an error event in the same read are
returned first; the error is raised on the next call.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import StreamBroken
from ..messages import Chunk
from .base import PendingError
from .openai_shapes import chunk, usage
from .sse import SSEParser

__all__ = [
    "AnthropicStreamDecoder",
    "UsageCounter",
    "finish_reason",
    "openai_usage",
    "stream_error",
]

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    # the turn is unfinished (long-running server tool): never present it as complete
    "pause_turn": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
#: in-stream error types worth retrying on the same or another provider
_RETRYABLE = frozenset({"overloaded_error", "api_error", "rate_limit_error"})
_COUNTERS = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
)


def finish_reason(stop_reason: Any, has_tool_calls: bool) -> str | None:
    if stop_reason is None:
        return None
    reason = _FINISH.get(str(stop_reason), "stop")
    # an answer that carries tool calls asks for them to be run
    return "tool_calls" if has_tool_calls and reason == "stop" else reason


def openai_usage(raw: Any) -> dict[str, Any] | None:
    """Anthropic usage → OpenAI usage; cache reads and writes count as prompt tokens."""
    if not isinstance(raw, dict):
        return None
    counts = [_int(raw.get(name)) for name in _COUNTERS]
    return usage(counts[0] + counts[1] + counts[2], counts[3], counts[2] or None)


def stream_error(obj: dict[str, Any]) -> StreamBroken:
    """An in-stream ``error`` event as the error that ends the stream."""
    error = obj.get("error")
    if not isinstance(error, dict):
        error = {}
    type_ = str(error.get("type") or "error")
    exc = StreamBroken(
        f"upstream stream error ({type_}): {error.get('message') or 'no message'}", code=type_
    )
    exc.retryable = type_ in _RETRYABLE
    return exc


class UsageCounter:
    """Anthropic's cumulative usage counters over a stream, and their OpenAI form."""

    __slots__ = ("counts", "usage")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.usage: dict[str, Any] | None = None

    def count(self, raw: Any) -> None:
        """Each counter keeps its largest value (a zero in a ``message_delta`` must not
        erase the input count of ``message_start``)."""
        if not isinstance(raw, dict):
            return
        counts = self.counts
        for name in _COUNTERS:
            value = raw.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                counts[name] = max(value, counts.get(name, 0))
        self.usage = openai_usage(counts)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class AnthropicStreamDecoder(PendingError):
    __slots__ = (
        "_counts",
        "_id",
        "_model",
        "_parser",
        "_skip",
        "_tools",
        "_finished",
        "_wants_usage",
        "done",
        "malformed",
        "usage",
    )

    def __init__(self, wants_usage: bool, model: str, skip_whitespace: str = "") -> None:
        self._parser = SSEParser()
        self._wants_usage = wants_usage
        self._finished = False
        self._id = ""
        self._model = model
        #: whitespace cut from a prefill; cut again from the start of the answer
        self._skip = skip_whitespace
        #: content block index → OpenAI tool call index
        self._tools: dict[int, int] = {}
        self._counts: dict[str, int] = {}
        self._error = None
        self.done = False
        self.usage: dict[str, Any] | None = None
        self.malformed = 0

    def feed(self, data: bytes) -> list[Chunk]:
        self._raise_pending()
        return self._translate(self._parser.feed(data))

    def close(self) -> list[Chunk]:
        self._raise_pending()
        out = self._translate(self._parser.flush())
        if not out:
            self._raise_pending()
        if not self.done and self._finished and self._wants_usage and self.usage is not None:
            # no message_stop, but the answer finished: still hand the client its usage
            self._emit(out, None, usage_=self.usage)
        return out

    def _translate(self, events: list[tuple[str | None, bytes]]) -> list[Chunk]:
        out: list[Chunk] = []
        for _event, data in events:
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                self.malformed += 1
                continue
            if not isinstance(obj, dict):
                self.malformed += 1
                continue
            try:
                self._event(obj, out)
            except StreamBroken as exc:
                if not out:
                    raise
                self._error = exc
                break
            except (KeyError, TypeError, AttributeError, ValueError):
                self.malformed += 1
        return out

    def _emit(self, out: list[Chunk], delta: dict[str, Any] | None, **kw: Any) -> None:
        out.append(chunk(self._id, 0, self._model, delta, **kw))

    def _event(self, obj: dict[str, Any], out: list[Chunk]) -> None:
        kind = obj.get("type")
        if kind == "content_block_delta":
            delta = obj["delta"]
            if delta.get("type") == "text_delta":
                self._text(str(delta.get("text") or ""), out)
            elif delta.get("type") == "input_json_delta" and obj.get("index") in self._tools:
                partial = delta.get("partial_json")
                if partial and isinstance(partial, str):
                    call = {"index": self._tools[obj["index"]], "function": {"arguments": partial}}
                    self._emit(out, {"tool_calls": [call]})
        elif kind == "content_block_start":
            block = obj["content_block"]
            if block.get("type") == "text":
                self._text(str(block.get("text") or ""), out)
            elif block.get("type") == "tool_use":
                index = self._tools[int(obj["index"])] = len(self._tools)
                call = {
                    "index": index,
                    "id": str(block.get("id") or ""),
                    "type": "function",
                    "function": {"name": str(block.get("name") or ""), "arguments": ""},
                }
                self._emit(out, {"tool_calls": [call]})
        elif kind == "message_start":
            message = obj["message"]
            self._id = str(message.get("id") or self._id)
            self._model = str(message.get("model") or self._model)
            self._count(message.get("usage"))
            self._emit(out, {"role": "assistant", "content": ""})
        elif kind == "message_delta":
            self._count(obj.get("usage"))
            reason = finish_reason((obj.get("delta") or {}).get("stop_reason"), bool(self._tools))
            if reason is not None:
                self._finished = True
                self._emit(out, {}, finish_reason=reason)
        elif kind == "message_stop":
            if self._wants_usage and self.usage is not None:
                self._emit(out, None, usage_=self.usage)
            self.done = True
        elif kind == "error":
            raise stream_error(obj)
        # ping, content_block_stop, thinking and unknown events carry nothing for OpenAI

    def _text(self, text: str, out: list[Chunk]) -> None:
        if self._skip and text:
            if text.startswith(self._skip):
                text, self._skip = text[len(self._skip) :], ""
            elif self._skip.startswith(text):
                text, self._skip = "", self._skip[len(text) :]
            else:
                self._skip = ""
        if text:
            self._emit(out, {"content": text})

    def _count(self, raw: Any) -> None:
        """Usage counters are cumulative, so each keeps its largest value (a zero in a
        ``message_delta`` must not erase the input count of ``message_start``)."""
        if not isinstance(raw, dict):
            return
        for name in _COUNTERS:
            value = raw.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                self._counts[name] = max(value, self._counts.get(name, 0))
        self.usage = openai_usage(self._counts)
