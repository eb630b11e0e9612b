"""An OpenAI chat answer as a Messages API ``message``, and the pieces streams share.

* ``content``: one ``text`` block (when there is text), then one ``tool_use`` block per
  tool call with its arguments parsed (arguments that are not a JSON object are kept
  under ``"arguments"`` rather than lost).
* ``stop_reason``: ``stop`` → ``end_turn``, or ``stop_sequence`` with the sequence when the
  upstream names the one that matched (vLLM's ``stop_reason``, SGLang's ``matched_stop``;
  OpenAI itself does not say, so there it reads ``end_turn``); ``length`` →
  ``max_tokens``; ``tool_calls`` → ``tool_use``; ``content_filter`` → ``refusal``.
* ``usage``: ``input_tokens`` are the prompt tokens not read from a cache,
  ``cache_read_input_tokens`` the cached ones.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = [
    "message_id",
    "messages_usage",
    "parse_arguments",
    "stop_of",
    "to_message",
]

_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def message_id(upstream_id: Any) -> str:
    text = str(upstream_id or "")
    return text if text.startswith("msg_") else "msg_" + (text or "proxy")


def messages_usage(usage: Any) -> dict[str, int]:
    """OpenAI usage → Messages usage (every counter present, 0 when unknown)."""
    usage = usage if isinstance(usage, dict) else {}
    prompt = _int(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return {
        "input_tokens": max(0, prompt - cached),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": _int(usage.get("completion_tokens")),
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def stop_of(
    choice: dict[str, Any], stop_sequences: list[str] | None
) -> tuple[str | None, str | None]:
    """``(stop_reason, stop_sequence)`` of a chat choice that finished."""
    finish = choice.get("finish_reason")
    if finish is None:
        return None, None
    if finish == "stop" and stop_sequences:
        for hint in (choice.get("stop_reason"), choice.get("matched_stop")):
            if isinstance(hint, str) and hint in stop_sequences:
                return "stop_sequence", hint
    return _STOP.get(str(finish), "end_turn"), None


def parse_arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return {"arguments": raw}
    return value if isinstance(value, dict) else {"arguments": value}


def to_message(
    obj: dict[str, Any], model: str, stop_sequences: list[str] | None
) -> dict[str, Any]:
    choices = obj.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    choice = choice if isinstance(choice, dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    content: list[dict[str, Any]] = []
    text = message.get("content")
    refusal = message.get("refusal")
    if not text and isinstance(refusal, str) and refusal:
        text = refusal  # OpenAI's refusal is the answer's text; the stop reason says why
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    calls = message.get("tool_calls")
    for position, call in enumerate(calls if isinstance(calls, list) else ()):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        content.append({
            "type": "tool_use",
            # an upstream that names no id: the same one its stream gets (events.py)
            "id": str(call.get("id") or f"toolu_{position}"),
            "name": str(function.get("name") or ""),
            "input": parse_arguments(function.get("arguments")),
        })
    stop_reason, stop_sequence = stop_of(choice, stop_sequences)
    if stop_reason == "end_turn" and any(b["type"] == "tool_use" for b in content):
        stop_reason = "tool_use"
    elif stop_reason == "end_turn" and not message.get("content") and refusal:
        stop_reason = "refusal"
    return {
        "id": message_id(obj.get("id")),
        "type": "message",
        "role": "assistant",
        "model": str(obj.get("model") or model),
        "content": content,
        "stop_reason": stop_reason or "end_turn",
        "stop_sequence": stop_sequence,
        "usage": messages_usage(obj.get("usage")),
    }
