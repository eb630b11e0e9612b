"""Legacy ``/v1/completions`` served by chat-only providers.

Pure functions: a text-completion request becomes a one-message chat request, and chat
responses and chunks become ``text_completion`` objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InvalidRequest

__all__ = ["chat_chunk_to_completion", "chat_to_completion", "completion_to_chat"]

_PASS = (
    "model", "max_tokens", "temperature", "top_p", "n", "stop", "seed", "user",
    "presence_penalty", "frequency_penalty", "logit_bias", "stream", "stream_options",
)


def completion_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise InvalidRequest(
                "this provider accepts a single string prompt", param="prompt"
            )
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise InvalidRequest("prompt must be a string", param="prompt")
    chat = {k: body[k] for k in _PASS if k in body}
    chat["messages"] = [{"role": "user", "content": prompt}]
    return chat


def _as_text_completion(obj: dict[str, Any], text_of: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    choices = [
        {
            "text": text_of(c),
            "index": c.get("index", i),
            "logprobs": None,
            "finish_reason": c.get("finish_reason"),
        }
        for i, c in enumerate(obj.get("choices") or ())
    ]
    out = {
        "id": obj.get("id", ""),
        "object": "text_completion",
        "created": obj.get("created", 0),
        "model": obj.get("model", ""),
        "choices": choices,
    }
    if obj.get("usage") is not None:
        out["usage"] = obj["usage"]
    return out


def chat_to_completion(obj: dict[str, Any]) -> dict[str, Any]:
    return _as_text_completion(obj, lambda c: (c.get("message") or {}).get("content") or "")


def chat_chunk_to_completion(obj: dict[str, Any]) -> dict[str, Any]:
    return _as_text_completion(obj, lambda c: (c.get("delta") or {}).get("content") or "")
