"""What a stream has sent so far, and how a resumed stream skips what was already sent.

Only single-choice text streams can be resumed; a stream that carried a tool call or
more than one choice cannot.
"""

from __future__ import annotations

from typing import Any

from supervisors.messages import Chunk, Op

__all__ = ["PrefixSkipper", "ResumeMismatch", "StreamText"]


def _text_of(op: Op, choice: dict[str, Any]) -> str | None:
    if op == "chat":
        delta = choice.get("delta")
        return delta.get("content") if delta else None
    return choice.get("text")


class StreamText:
    __slots__ = ("_op", "_parts", "finish", "resumable")

    def __init__(self, op: Op) -> None:
        self._op = op
        self._parts: list[str] = []
        self.finish: str | None = None
        self.resumable = op != "embeddings"

    def track(self, chunks: list[Chunk]) -> None:
        op, parts = self._op, self._parts
        for chunk in chunks:
            choices = chunk.obj.get("choices")
            if not choices:
                continue
            for choice in choices:
                if choice.get("index", 0):
                    self.resumable = False
                delta = choice.get("delta")
                if delta and (delta.get("tool_calls") or delta.get("function_call")):
                    self.resumable = False
                text = _text_of(op, choice)
                if text:
                    parts.append(text)
                finish = choice.get("finish_reason")
                if finish:
                    self.finish = finish

    @property
    def value(self) -> str:
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""


class ResumeMismatch(Exception):
    """The fresh answer does not start with what the client already has."""


class PrefixSkipper:
    """Drops the already-sent prefix from a fresh answer, chunk by chunk."""

    __slots__ = ("_lenient", "_op", "_remaining", "passed")

    def __init__(self, op: Op, sent: str, *, lenient: bool = False) -> None:
        self._op = op
        self._remaining = sent
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
                continue  # role-only or usage chunks of the fresh answer
            choice = choices[0]
            text = _text_of(self._op, choice) or ""
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
            if text or (self.passed and choice.get("finish_reason")):
                out.append(_with_text(self._op, chunk, text))
            elif choice.get("finish_reason"):
                raise ResumeMismatch  # the fresh answer ended before reaching the prefix
        return out


def _with_text(op: Op, chunk: Chunk, text: str) -> Chunk:
    obj = dict(chunk.obj)
    choice = dict(obj["choices"][0])
    if op == "chat":
        delta = dict(choice.get("delta") or {})
        delta.pop("role", None)
        delta["content"] = text
        choice["delta"] = delta
    else:
        choice["text"] = text
    obj["choices"] = [choice, *obj["choices"][1:]]
    return Chunk(obj, None)
