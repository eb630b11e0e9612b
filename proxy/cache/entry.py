"""A cached answer: what the router produced for a complete, successful request.

An entry keeps the answer in the gateway's internal terms (the operation of the hop that
served and its OpenAI-shaped objects), so a hit goes out through the ingress codec exactly
as a fresh answer would: whole answers as ``Result``, streams as chunk batches. Stream
entries are stored without their usage chunk (OpenAI-shaped operations) and the usage apart, so a
replay relays a usage chunk exactly when this request's call asks for one
(``stream_options``), as the upstream adapters do. A whole chat or text completion also replays as a stream; other
operations replay only in the mode they were stored in. A stored chat or text completion
stream answers a whole request too, assembled as the upstream's whole answer would be.

Serialised as one line of orjson metadata, ``{"v": 2, "op", "kind": "whole"|"stream",
"usage"}``, a newline, then the answer: a whole answer's bytes exactly as the upstream sent
them (``Result.raw``: stored without serialising the object again, and replayed as the
same bytes), or the stream's chunk objects as a JSON array. orjson never writes a raw
newline, so the first one ends the metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from supervisors.messages import Chunk, Op, Result

__all__ = ["Entry", "is_usage_chunk"]

_VERSION = 2
#: operations whose chunks are OpenAI's (a usage chunk of their own, turnable from whole)
_OPENAI = ("chat", "completions")


def is_usage_chunk(obj: dict[str, Any]) -> bool:
    """OpenAI's final usage chunk: no choices, a usage object."""
    return not obj.get("choices") and isinstance(obj.get("usage"), dict)


@dataclass(frozen=True, slots=True)
class Entry:
    op: Op
    #: a whole answer's object, or ``None`` for a stream
    obj: dict[str, Any] | None
    #: a stream's chunk objects (no usage chunk), or ``None`` for a whole answer
    chunks: tuple[dict[str, Any], ...] | None
    usage: dict[str, Any] | None
    #: a whole answer's serialised form (``obj`` as bytes), when known
    raw: bytes | None = field(default=None, compare=False)

    @classmethod
    def whole(cls, op: Op, result: Result) -> Entry:
        return cls(op, result.obj, None, _usage_of(result), result.raw)

    @classmethod
    def stream(cls, op: Op, batches: list[list[Chunk]], usage: dict[str, Any] | None) -> Entry:
        openai = op in _OPENAI
        chunks = tuple(c.obj for batch in batches for c in batch
                       if not (openai and is_usage_chunk(c.obj)))
        return cls(op, None, chunks, usage)

    def encode(self) -> bytes:
        if self.obj is not None:
            return _encoded(self.op, "whole", self.usage,
                            self.raw if self.raw is not None else orjson.dumps(self.obj))
        return _encoded(self.op, "stream", self.usage, orjson.dumps(self.chunks))

    @staticmethod
    def encode_whole(op: Op, result: Result) -> bytes:
        """``Entry.whole(op, result).encode()`` without making the entry."""
        return _encoded(op, "whole", _usage_of(result),
                        result.raw if result.raw is not None else orjson.dumps(result.obj))

    @classmethod
    def decode(cls, raw: bytes) -> Entry | None:
        """The entry, or ``None`` for anything unreadable (another version, corruption)."""
        head, _, body = raw.partition(b"\n")
        try:
            meta = orjson.loads(head)
            if meta.get("v") != _VERSION:
                return None
            usage = meta.get("usage")
            usage = usage if isinstance(usage, dict) else None
            data = orjson.loads(body)
            if meta["kind"] == "whole" and isinstance(data, dict):
                return cls(meta["op"], data, None, usage, body)
            if meta["kind"] == "stream" and isinstance(data, list):
                return cls(meta["op"], None, tuple(data), usage)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return None
        return None

    # -- replay ------------------------------------------------------------------------

    def result(self) -> Result | None:
        """The whole answer: the stored one, or a stored chat / text completion stream
        assembled into one; ``None`` when it cannot be had."""
        if self.obj is None:
            if self.chunks is None or self.op not in _OPENAI:
                return None
            return Result(_assemble(self.op, self.chunks, self.usage))
        native = self.usage is not None and self.obj.get("usage") != self.usage
        return Result(self.obj, self.raw, self.usage if native else None)

    def batches(self, with_usage: bool) -> list[list[Chunk]] | None:
        """The answer as stream batches (one batch), with a usage chunk when asked; a
        whole chat or text completion is turned into its chunks; ``None`` when it cannot
        be replayed as a stream."""
        if self.chunks is not None:
            objs = list(self.chunks)
            template = objs[-1] if objs else {}
        elif self.obj is not None and self.op in _OPENAI:
            objs = _as_chunks(self.op, self.obj)
            template = self.obj
        else:
            return None
        if with_usage and self.usage is not None and self.op in _OPENAI:
            objs.append(_usage_chunk(self.op, template, self.usage))
        return [[Chunk(o) for o in objs]]


def _usage_of(result: Result) -> dict[str, Any] | None:
    """A whole answer's usage, OpenAI-shaped, as the router reports it."""
    usage = result.usage or result.obj.get("usage")
    return usage if isinstance(usage, dict) else None


def _encoded(op: Op, kind: str, usage: dict[str, Any] | None, body: bytes) -> bytes:
    head = orjson.dumps({"v": _VERSION, "op": op, "kind": kind, "usage": usage})
    return b"".join((head, b"\n", body))


def _usage_chunk(op: Op, template: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
    chunk: dict[str, Any] = {k: template[k] for k in ("id", "created", "model", "system_fingerprint")
             if k in template}
    chunk["object"] = "chat.completion.chunk" if op == "chat" else "text_completion"
    chunk["choices"] = []
    chunk["usage"] = usage
    return chunk


def _as_chunks(op: Op, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """A whole chat completion / text completion as the chunks a stream of it carries:
    one with each choice's content, then one with each choice's finish reason."""
    base: dict[str, Any] = {k: obj[k] for k in ("id", "created", "model", "system_fingerprint") if k in obj}
    choices = [c for c in obj.get("choices") or () if isinstance(c, dict)]
    if op == "completions":
        base["object"] = "text_completion"
        content = [{"index": c.get("index", i), "text": c.get("text") or "",
                    "logprobs": c.get("logprobs"), "finish_reason": None}
                   for i, c in enumerate(choices)]
        ends = [{"index": c.get("index", i), "text": "", "logprobs": None,
                 "finish_reason": c.get("finish_reason")} for i, c in enumerate(choices)]
    else:
        base["object"] = "chat.completion.chunk"
        content = [{"index": c.get("index", i), "delta": _delta(c.get("message") or {}),
                    "logprobs": c.get("logprobs"), "finish_reason": None}
                   for i, c in enumerate(choices)]
        ends = [{"index": c.get("index", i), "delta": {}, "logprobs": None,
                 "finish_reason": c.get("finish_reason")} for i, c in enumerate(choices)]
    return [{**base, "choices": content}, {**base, "choices": ends}]


def _delta(message: dict[str, Any]) -> dict[str, Any]:
    delta: dict[str, Any] = {"role": message.get("role") or "assistant"}
    for key in ("content", "refusal"):
        if message.get(key) is not None:
            delta[key] = message[key]
    tool_calls = message.get("tool_calls")
    if isinstance(tool_calls, list) and tool_calls:
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(tool_calls)
                               if isinstance(call, dict)]
    if "content" not in delta:
        delta["content"] = None
    return delta


def _assemble(op: Op, chunks: tuple[dict[str, Any], ...],
              usage: dict[str, Any] | None) -> dict[str, Any]:
    """Chunks of a chat / text completion stream as the whole answer: text concatenated
    per choice, tool calls merged by index, the last finish reason, the usage."""
    first = chunks[0] if chunks else {}
    out: dict[str, Any] = {k: first[k] for k in ("id", "created", "model", "system_fingerprint")
                           if k in first}
    out["object"] = "chat.completion" if op == "chat" else "text_completion"
    choices: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for part in chunk.get("choices") or ():
            if not isinstance(part, dict):
                continue
            index = part.get("index", 0)
            choice = choices.setdefault(index, _empty_choice(op, index))
            if part.get("finish_reason"):
                choice["finish_reason"] = part["finish_reason"]
            if op == "completions":
                choice["text"] += part.get("text") or ""
            else:
                _merge_delta(choice["message"], part.get("delta") or {})
    out["choices"] = [choices[i] for i in sorted(choices)]
    if usage is not None:
        out["usage"] = usage
    return out


def _empty_choice(op: Op, index: int) -> dict[str, Any]:
    if op == "completions":
        return {"index": index, "text": "", "logprobs": None, "finish_reason": None}
    return {"index": index, "message": {"role": "assistant", "content": None},
            "logprobs": None, "finish_reason": None}


def _merge_delta(message: dict[str, Any], delta: dict[str, Any]) -> None:
    for key in ("content", "refusal"):
        if isinstance(delta.get(key), str):
            message[key] = (message.get(key) or "") + delta[key]
    for call in delta.get("tool_calls") or ():
        if not isinstance(call, dict):
            continue
        calls = message.setdefault("tool_calls", [])
        index = call.get("index", len(calls))
        while len(calls) <= index:
            calls.append({"id": None, "type": "function",
                          "function": {"name": "", "arguments": ""}})
        target = calls[index]
        if call.get("id"):
            target["id"] = call["id"]
        function = call.get("function") or {}
        target["function"]["name"] += function.get("name") or ""
        target["function"]["arguments"] += function.get("arguments") or ""
