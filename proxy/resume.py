"""What a stream has sent so far, and how a resumed stream skips what was already sent.

Only single-choice text streams can be resumed; a stream that carried a tool call or
more than one choice cannot. Chunks are read by their shape, so a stream that moves
from one op to another on resume (an Anthropic stream relayed natively, ``messages``,
continued by a translated ``chat`` stream, or the other way round) is followed as one:

* OpenAI chunks (``choices``): ``delta.content`` (chat) or ``text`` (completions);
* Anthropic events (``type``): ``text_delta`` deltas; thinking blocks are neither text
  nor an obstacle; a ``tool_use`` or other block makes the stream not resumable;
  ``message_delta`` carries the finish (``stop_reason``).
"""

from __future__ import annotations

from typing import Any

from supervisors.messages import Chunk, Op

__all__ = ["PrefixSkipper", "ResumeMismatch", "StreamText"]

#: Anthropic blocks a resumed answer may leave out or replace (not shown as text)
_PASSIVE_BLOCKS = frozenset({"text", "thinking", "redacted_thinking"})
_THINKING_DELTAS = frozenset({"thinking_delta", "signature_delta"})
_PASSIVE_DELTAS = _THINKING_DELTAS | {"text_delta"}
#: StreamText joins its small text parts into one string every this many
_BLOCK = 16


def _text_of(choice: dict[str, Any]) -> str | None:
    delta = choice.get("delta")
    if delta is not None:
        return delta.get("content")
    return choice.get("text")



def _obj(value: Any) -> dict[str, Any]:
    """A nested object of an upstream event, or an empty one when it is not an object."""
    return value if isinstance(value, dict) else {}

class StreamText:
    __slots__ = ("_blocks", "_parts", "finish", "resumable")

    def __init__(self, op: Op) -> None:
        #: the text so far: ``_blocks`` joined, then the latest small ``_parts``
        self._blocks: list[str] = []
        self._parts: list[str] = []
        self.finish: str | None = None
        self.resumable = op not in ("embeddings", "count_tokens")

    def track(self, chunks: list[Chunk]) -> None:
        parts = self._parts
        for chunk in chunks:
            obj = chunk.obj
            choices = obj.get("choices")
            if not choices:
                if "choices" not in obj and "type" in obj:
                    self._event(obj)
                continue
            for choice in choices:
                if choice.get("index", 0):
                    self.resumable = False
                delta = choice.get("delta")
                if delta is None:  # a text completion
                    text = choice.get("text")
                else:
                    text = delta.get("content")
                    if delta.get("tool_calls") or delta.get("function_call"):
                        self.resumable = False
                if text:
                    parts.append(text)
                finish = choice.get("finish_reason")
                if finish:
                    self.finish = finish
        if len(parts) >= _BLOCK:  # a small string costs ~50 bytes: keep them as one
            self._blocks.append("".join(parts))
            parts.clear()

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = _obj(event.get("delta"))
            if delta.get("type") == "text_delta":
                if delta.get("text"):
                    self._parts.append(str(delta["text"]))
            elif delta.get("type") not in _PASSIVE_DELTAS:
                self.resumable = False
        elif kind == "content_block_start":
            block = _obj(event.get("content_block"))
            if block.get("type") not in _PASSIVE_BLOCKS:
                self.resumable = False
            elif block.get("type") == "text" and block.get("text"):
                self._parts.append(str(block["text"]))
        elif kind == "message_delta":
            reason = _obj(event.get("delta")).get("stop_reason")
            if reason:
                self.finish = str(reason)

    @property
    def value(self) -> str:
        blocks = self._blocks
        if self._parts:
            blocks.append("".join(self._parts))
            self._parts.clear()
        if len(blocks) > 1:
            blocks[:] = ["".join(blocks)]
        return blocks[0] if blocks else ""


class ResumeMismatch(Exception):
    """The fresh answer does not start with what the client already has."""


class PrefixSkipper:
    """Drops the already-sent prefix from a fresh answer, chunk by chunk."""

    __slots__ = ("_dropped", "_lenient", "_remaining", "passed")

    def __init__(self, op: Op, sent: str, *, lenient: bool = False) -> None:
        self._remaining = sent
        #: thinking blocks of a fresh Anthropic answer, left out before the prefix passed
        self._dropped: set[Any] = set()
        self._lenient = lenient
        self.passed = not sent

    def filter(self, chunks: list[Chunk]) -> list[Chunk]:
        out: list[Chunk] = []
        for chunk in chunks:
            if self.passed:
                out.append(chunk)
                continue
            choices = chunk.obj.get("choices")
            if not choices:
                if "choices" not in chunk.obj and "type" in chunk.obj:
                    self._event(chunk, out)
                continue  # role-only or usage chunks of the fresh answer
            choice = choices[0]
            text = self._skip(_text_of(choice) or "")
            if text or (self.passed and choice.get("finish_reason")):
                out.append(_with_text(chunk, text))
            elif choice.get("finish_reason"):
                raise ResumeMismatch  # the fresh answer ended before reaching the prefix
        return out

    def _skip(self, text: str) -> str:
        """What is left of ``text`` once the sent prefix is consumed from it."""
        rest = self._remaining
        if text:
            if rest.startswith(text):
                self._remaining = rest[len(text):]
                text = ""
            elif text.startswith(rest):
                self._remaining, text = "", text[len(rest):]
            elif self._lenient:
                self._remaining = ""
            else:
                raise ResumeMismatch
        if not self._remaining:
            self.passed = True
        return text

    def _event(self, chunk: Chunk, out: list[Chunk]) -> None:
        """An Anthropic event of the fresh answer, before the prefix is passed.

        Its ``message_start`` and text block starts go through (the front end folds them
        into the message and block the client already has), ``ping`` and thinking blocks
        are dropped, text deltas consumed; anything else means the answer differs."""
        event = chunk.obj
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = _obj(event.get("delta"))
            if event.get("index") in self._dropped or delta.get("type") in _THINKING_DELTAS:
                return
            if delta.get("type") != "text_delta":
                raise ResumeMismatch
            text = self._skip(str(delta.get("text") or ""))
            if text:
                out.append(Chunk({**event, "delta": {**delta, "text": text}}, None))
        elif kind == "content_block_start":
            block = _obj(event.get("content_block"))
            if block.get("type") in ("thinking", "redacted_thinking"):
                self._dropped.add(event.get("index"))
                return
            if block.get("type") != "text":
                raise ResumeMismatch
            text = self._skip(str(block.get("text") or ""))
            out.append(Chunk({**event, "content_block": {**block, "text": ""}}, None))
            if text:
                out.append(Chunk({"type": "content_block_delta", "index": event.get("index"),
                                  "delta": {"type": "text_delta", "text": text}}, None))
        elif kind == "content_block_stop":
            if event.get("index") not in self._dropped:
                out.append(chunk)
        elif kind == "message_start":
            out.append(chunk)
        elif kind in ("message_delta", "message_stop"):
            raise ResumeMismatch  # the fresh answer ended before reaching the prefix
        # ping and unknown events: dropped


def _with_text(chunk: Chunk, text: str) -> Chunk:
    obj = dict(chunk.obj)
    choice = dict(obj["choices"][0])
    if "delta" in choice:
        delta = dict(choice.get("delta") or {})
        delta.pop("role", None)
        delta["content"] = text
        choice["delta"] = delta
    else:
        choice["text"] = text
    obj["choices"] = [choice, *obj["choices"][1:]]
    return Chunk(obj, None)
