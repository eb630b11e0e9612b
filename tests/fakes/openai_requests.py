"""Request checks and conversation extraction for the fake OpenAI API.

Checks what the real API rejects with 400 and that our gateway could get wrong;
messages mirror OpenAI's wording closely enough for tests to match on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .content import Conversation, Role, Turn

__all__ = [
    "DEFAULT_MODELS",
    "Problem",
    "conversation_from_chat",
    "prompt_texts",
    "text_of",
    "validate_chat",
]

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo", "text-embedding-3-small")
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_ROLE_MAP: dict[str, Role] = {"system": "system", "developer": "system", "user": "user",
                              "assistant": "assistant", "tool": "tool", "function": "tool"}
LEGACY_DEFAULT_MAX_TOKENS = 16
#: completion tokens a model can write at most (api.openai.com refuses a larger limit)
OUTPUT_LIMITS = {"gpt-4o": 16_384, "gpt-4o-mini": 16_384, "gpt-3.5-turbo": 4_096}


@dataclass(frozen=True)
class Problem:
    message: str
    param: str | None = None
    code: str | None = None


def text_of(content: Any) -> str:
    """Text of a message ``content``: a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type") in ("text", "input_text"))
    return ""


def _check_messages(messages: list[Any]) -> Problem | None:
    open_calls: set[str] = set()
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            return Problem(f"Invalid type for 'messages[{i}]': expected an object.",
                           f"messages[{i}]", "invalid_type")
        role = msg.get("role")
        if role not in ROLES:
            return Problem(f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', "
                           "'user', 'function', 'tool', and 'developer'.",
                           f"messages[{i}].role", "invalid_value")
        if role != "tool" and open_calls:
            return Problem("An assistant message with 'tool_calls' must be followed by tool "
                           "messages responding to each 'tool_call_id'. The following "
                           f"tool_call_ids did not have response messages: {', '.join(sorted(open_calls))}",
                           "messages", None)
        if role == "tool":
            if msg.get("tool_call_id") not in open_calls:
                return Problem("Invalid parameter: messages with role 'tool' must be a response "
                               "to a preceeding message with 'tool_calls'.",
                               f"messages.[{i}].role", None)
            open_calls.discard(msg["tool_call_id"])
        elif role == "assistant":
            calls = msg.get("tool_calls") or []
            open_calls = {c["id"] for c in calls if isinstance(c, dict) and isinstance(c.get("id"), str)}
            if msg.get("content") is None and not calls:
                return Problem("Invalid value for 'content': expected a string, got null.",
                               f"messages.[{i}].content", None)
        elif "content" not in msg:
            return Problem(f"Missing required parameter: 'messages[{i}].content'.",
                           f"messages[{i}].content", "missing_required_parameter")
    return None


def _output_limit(body: dict[str, Any]) -> Problem | None:
    limit = OUTPUT_LIMITS.get(body["model"])
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if limit is not None and isinstance(value, int) and value > limit:
            return Problem(f"{name} is too large: {value}. This model supports at most "
                           f"{limit} completion tokens, whereas you provided {value}.", name)
    return None


def validate_chat(body: dict[str, Any]) -> Problem | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return Problem("you must provide a model parameter")
    messages = body.get("messages")
    if messages is None:
        return Problem("Missing required parameter: 'messages'.", "messages",
                       "missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        return Problem("Invalid 'messages': empty array. Expected an array with minimum length 1, "
                       "but got an empty array instead.", "messages", "empty_array")
    if (problem := _check_messages(messages)) is not None:
        return problem
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            return Problem(f"Invalid '{name}': integer below minimum value. Expected a value >= 1, "
                           f"but got {value} instead.", name, "integer_below_min_value")
    if (problem := _output_limit(body)) is not None:
        return problem
    if body.get("stream_options") is not None and not body.get("stream"):
        return Problem("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                       "stream_options", None)
    tools = body.get("tools")
    if tools is not None and (not isinstance(tools, list) or not all(
            isinstance(t, dict) and isinstance(t.get("function"), dict)
            and isinstance(t["function"].get("name"), str) for t in tools)):
        return Problem("Missing required parameter: 'tools[0].function'.", "tools[0].function",
                       "missing_required_parameter")
    return None


def _stops(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(s for s in value if isinstance(s, str))
    return ()


def conversation_from_chat(body: dict[str, Any]) -> Conversation:
    turns = [Turn(_ROLE_MAP[m["role"]], text_of(m.get("content"))) for m in body["messages"]]
    tools = [t["function"]["name"] for t in body.get("tools") or []]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    return Conversation(turns, tools, limit, _stops(body.get("stop")))


def prompt_texts(body: dict[str, Any]) -> list[Conversation] | str:
    """One conversation per legacy prompt, or an error message."""
    prompt = body.get("prompt", "")
    if isinstance(prompt, str):
        prompts = [prompt]
    elif isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        prompts = list(prompt)
    elif isinstance(prompt, list) and prompt and all(isinstance(p, int) for p in prompt):
        prompts = [" ".join(str(p) for p in prompt)]
    else:
        return "Invalid 'prompt': expected a string or an array of strings."
    limit = body.get("max_tokens", LEGACY_DEFAULT_MAX_TOKENS)
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        return f"Invalid 'max_tokens': integer below minimum value. Got {limit}."
    n = body.get("n") or 1
    stop = _stops(body.get("stop"))
    return [Conversation([Turn("user", p)], (), limit, stop) for p in prompts for _ in range(n)]
