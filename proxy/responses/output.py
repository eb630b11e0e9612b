"""Chat answers → the ``response`` object, built the same way for whole and streamed answers.

``ResponseShell`` holds what is fixed for one response (id, creation time, echoed settings)
and renders the object in any state; ``output_items`` and ``usage_of`` turn a chat
completion's message and usage into output items and Responses usage.
"""

from __future__ import annotations

import time
from typing import Any

from supervisors.errors import ProxyError

from .items import new_id

__all__ = ["ResponseShell", "finish_status", "message_item", "output_items", "usage_of"]

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def usage_of(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chat ``usage`` → Responses ``usage`` (with the token details the SDK expects)."""
    if not isinstance(usage, dict):
        return None
    prompt = _int(usage.get("prompt_tokens"))
    completion = _int(usage.get("completion_tokens"))
    total = _int(usage.get("total_tokens")) or prompt + completion
    details = usage.get("prompt_tokens_details") or {}
    cached = _int(details.get("cached_tokens"))
    written = _int(details.get("cache_write_tokens") or details.get("cache_creation_tokens"))
    reasoning = _int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens"))
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": total,
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def finish_status(finish: str | None) -> tuple[str, dict[str, Any] | None]:
    """(response ``status``, ``incomplete_details``) for a chat ``finish_reason``."""
    reason = _INCOMPLETE.get(finish or "")
    if reason is None:
        return "completed", None
    return "incomplete", {"reason": reason}


def message_item(item_id: str, text: str, status: str, refusal: str | None = None
                 ) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if text or refusal is None:
        content.append({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    if refusal is not None:
        content.append({"type": "refusal", "refusal": refusal})
    return {"id": item_id, "type": "message", "status": status, "content": content,
            "role": "assistant"}


def function_item(item_id: str, call_id: str, name: str, arguments: str, status: str
                  ) -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "status": status, "arguments": arguments,
            "call_id": call_id, "name": name}


def output_items(message: dict[str, Any], finish: str | None) -> list[dict[str, Any]]:
    """The output items of one chat ``message`` (text first, then its tool calls)."""
    status = "incomplete" if finish in _INCOMPLETE else "completed"
    items: list[dict[str, Any]] = []
    text = message.get("content")
    refusal = message.get("refusal")
    if isinstance(text, list):  # a few upstreams return content parts
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    if (isinstance(text, str) and text) or isinstance(refusal, str):
        items.append(message_item(new_id("msg"), text if isinstance(text, str) else "", status,
                                  refusal if isinstance(refusal, str) else None))
    for call in message.get("tool_calls") or ():
        if not isinstance(call, dict):
            continue
        function = call.get("function") or {}
        items.append(function_item(
            new_id("fc"), str(call.get("id") or new_id("call")), str(function.get("name", "")),
            str(function.get("arguments") or ""), "completed"))
    if not items:
        items.append(message_item(new_id("msg"), "", status))
    return items


class ResponseShell:
    """One response's fixed parts; renders the object in any state."""

    __slots__ = ("created_at", "echo", "id")

    def __init__(self, echo: dict[str, Any], response_id: str | None = None) -> None:
        self.id = response_id or new_id("resp")
        self.created_at = int(time.time())
        self.echo = echo

    def render(
        self,
        status: str,
        output: list[dict[str, Any]],
        *,
        usage: dict[str, Any] | None = None,
        incomplete: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "error": error,
            "incomplete_details": incomplete,
            **self.echo,
            "output": output,
            "parallel_tool_calls": self.echo["parallel_tool_calls"],
            "service_tier": "default",
            "usage": usage,
        }

    def whole(self, chat: dict[str, Any]) -> dict[str, Any]:
        """The finished response for a whole chat completion."""
        choices = chat.get("choices") or [{}]
        choice = choices[0] if isinstance(choices[0], dict) else {}
        finish = choice.get("finish_reason")
        status, incomplete = finish_status(finish)
        raw = choice.get("message")
        message: dict[str, Any] = raw if isinstance(raw, dict) else {}
        return self.render(status, output_items(message, finish),
                           usage=usage_of(chat.get("usage")), incomplete=incomplete)

    def failed(self, err: ProxyError, output: list[dict[str, Any]]) -> dict[str, Any]:
        # ``error.code`` is an enum in OpenAI's schema: only these two fit a gateway failure
        code = "rate_limit_exceeded" if err.status == 429 else "server_error"
        return self.render("failed", output, error={"code": code, "message": err.message})
