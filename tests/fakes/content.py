"""Deterministic answers shared by the three fake providers.

The answer depends only on the conversation (never on model or provider), so a
fallback provider produces exactly the same text as the one it replaces:

- last user text ``tokens:N`` -> N tokens ``"word0 ", "word1 ", ..., "wordN-1"``;
- last user text ``echo:<rest>`` -> ``<rest>`` split into whitespace-preserving tokens;
- anything else -> 12 tokens ``word0 .. word11``.

``call tool NAME {json}`` calls that tool (when offered) with those arguments (Claude Code
runs its own tools this way).

A trailing assistant message is a prefill: the answer is the continuation of the
full text after it. Tools plus ``call tool`` in the last user text answer with one
call to the first tool, unless a tool result already follows that user turn; ``call tool
with {...}`` (a JSON object) makes those the call's arguments.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "TOOL_ARGUMENTS",
    "Answer",
    "Conversation",
    "Turn",
    "answer_for",
    "embedding",
    "embedding_base64",
    "fragments",
    "word_count",
]

TOOL_ARGUMENTS: dict[str, str] = {"city": "Paris", "unit": "c"}
_NAMED_CALL = re.compile(r"call tool (\S+) (\{[^\n]*\})")
DEFAULT_TOKENS = 12
MAX_TOKENS_REQUESTED = 100_000
Role = Literal["system", "user", "assistant", "tool"]
Finish = Literal["stop", "length", "tool_calls", "stop_sequence"]


@dataclass(frozen=True)
class Turn:
    """One message reduced to what the answer depends on."""

    role: Role
    text: str


@dataclass(frozen=True)
class Conversation:
    turns: Sequence[Turn]
    tool_names: Sequence[str] = ()
    max_tokens: int | None = None
    stop: Sequence[str] = ()


@dataclass(frozen=True)
class Answer:
    """What the fake says: text tokens or one tool call, plus the stop reason."""

    tokens: list[str]
    finish: Finish
    prompt_tokens: int
    tool_name: str | None = None
    tool_arguments: dict[str, Any] = field(default_factory=dict)
    stop_sequence: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def tool_json(self) -> str:
        return json.dumps(self.tool_arguments)

    @property
    def completion_tokens(self) -> int:
        """Tokens emitted: text tokens, or the streamed fragments of a tool call."""
        if self.tool_name is not None:
            return len(fragments(self.tool_json))
        return len(self.tokens)

    def oversized(self, size: int) -> Answer:
        """The same answer with a single text token of ``size`` bytes."""
        return Answer(["x" * size], "stop", self.prompt_tokens)

    def padded(self, size: int) -> Answer:
        """The same answer with each text token padded to ``size`` characters."""
        return Answer([t.ljust(size, "x") for t in self.tokens], self.finish,
                      self.prompt_tokens)


def word_count(texts: Iterable[str]) -> int:
    return sum(len(t.split()) for t in texts)


def _full_tokens(user_text: str) -> list[str]:
    text = user_text.strip()
    if text.startswith("tokens:"):
        try:
            n = int(text[len("tokens:") :].strip())
        except ValueError:
            n = DEFAULT_TOKENS
        n = max(0, min(n, MAX_TOKENS_REQUESTED))
    elif user_text.lstrip().startswith("echo:"):
        rest = user_text.lstrip()[len("echo:") :]
        return re.findall(r"\S+\s*|\s+", rest)
    else:
        n = DEFAULT_TOKENS
    return [f"word{i}" + (" " if i < n - 1 else "") for i in range(n)]


def _continuation(tokens: list[str], prefill: str) -> list[str]:
    """Tokens after ``prefill`` when the full text starts with it, else all tokens."""
    if not prefill or not "".join(tokens).startswith(prefill):
        return tokens
    out: list[str] = []
    offset = 0
    for tok in tokens:
        end = offset + len(tok)
        if end > len(prefill):
            out.append(tok[max(0, len(prefill) - offset) :])
        offset = end
    return out


def _apply_stop(tokens: list[str], stops: Sequence[str]) -> tuple[list[str], str | None]:
    text = "".join(tokens)
    hits = [(text.find(s), s) for s in stops if s and s in text]
    if not hits:
        return tokens, None
    cut, matched = min(hits)
    out: list[str] = []
    offset = 0
    for tok in tokens:
        if offset >= cut:
            break
        out.append(tok[: cut - offset])
        offset += len(tok)
    return [t for t in out if t], matched


def _last_user_index(turns: Sequence[Turn]) -> int | None:
    for i in range(len(turns) - 1, -1, -1):
        if turns[i].role == "user" and turns[i].text.strip():
            return i
    return None


def _tool_arguments(user_text: str) -> dict[str, Any]:
    start = user_text.find("call tool with {")
    if start >= 0:
        try:
            value, _ = json.JSONDecoder().raw_decode(user_text[start + len("call tool with "):])
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    return dict(TOOL_ARGUMENTS)


def answer_for(conv: Conversation) -> Answer:
    turns = list(conv.turns)
    prompt = word_count(t.text for t in turns)
    prefill = ""
    if turns and turns[-1].role == "assistant":
        prefill = turns[-1].text
    idx = _last_user_index(turns)
    user_text = turns[idx].text if idx is not None else ""
    tool_pending = idx is not None and any(t.role == "tool" for t in turns[idx + 1 :])
    if conv.tool_names and "call tool" in user_text and not tool_pending and not prefill:
        named = _NAMED_CALL.search(user_text)
        if named and named.group(1) in conv.tool_names:
            try:
                arguments = json.loads(named.group(2))
            except json.JSONDecodeError:
                arguments = None
            if isinstance(arguments, dict):
                return Answer([], "tool_calls", prompt, named.group(1), arguments)
        return Answer([], "tool_calls", prompt, conv.tool_names[0], _tool_arguments(user_text))
    tokens = _continuation(_full_tokens(user_text), prefill)
    tokens, matched = _apply_stop(tokens, conv.stop)
    if matched is not None:
        return Answer(tokens, "stop_sequence", prompt, stop_sequence=matched)
    if conv.max_tokens is not None and len(tokens) > conv.max_tokens:
        return Answer(tokens[: conv.max_tokens], "length", prompt)
    return Answer(tokens, "stop", prompt)


def fragments(text: str, parts: int = 3) -> list[str]:
    """Split ``text`` into at least ``parts`` non-empty pieces (fewer only if too short)."""
    parts = max(1, min(parts, len(text)))
    size = math.ceil(len(text) / parts)
    return [text[i : i + size] for i in range(0, len(text), size)]


def embedding(text: str, dims: int = 8) -> list[float]:
    """Deterministic unit vector derived from a hash of ``text``."""
    raw = b""
    counter = 0
    while len(raw) < dims * 4:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [(v / 0xFFFFFFFF) * 2.0 - 1.0 for v in struct.unpack(f"<{dims}I", raw[: dims * 4])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def embedding_base64(vector: Sequence[float]) -> str:
    """OpenAI's ``encoding_format: base64``: little-endian float32 array."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
