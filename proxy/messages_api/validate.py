"""Checks of a Messages API request body, before it goes anywhere.

Only what the gateway relies on, and what the real API would refuse anyway, is checked
here, with Anthropic's wording where it has one: a body refused here never reaches an
upstream. Everything else (block types, tuning fields, beta features) is left to the
hop: passed through to ``anthropic`` providers, translated or refused by name for the
others (``messages_api.request``).
"""

from __future__ import annotations

from typing import Any

from supervisors.errors import InvalidRequest

__all__ = ["validate_count_tokens", "validate_messages"]

_ROLES = frozenset({"user", "assistant", "system"})
_TOOL_CHOICES = frozenset({"auto", "any", "tool", "none"})


def _fail(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _number(body: dict[str, Any], name: str) -> None:
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise _fail(f"{name}: Input should be a valid number", name)


def _common(body: dict[str, Any]) -> None:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _fail("model: Field required", "model")
    if len(model) > 256:
        raise _fail("model: String should have at most 256 characters", "model")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise _fail("messages: Field required", "messages")
    if not messages:
        raise _fail("messages: at least one message is required", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _fail(f"messages.{i}: Input should be a valid dictionary", f"messages.{i}")
        role = message.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise _fail(f"messages.{i}.role: Input should be 'user' or 'assistant'",
                        f"messages.{i}.role")
        content = message.get("content")
        if isinstance(content, list):
            for j, block in enumerate(content):
                if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                    raise _fail(f"messages.{i}.content.{j}: Input should be a valid "
                                "content block with a 'type'", f"messages.{i}.content.{j}")
        elif not isinstance(content, str):
            raise _fail(f"messages.{i}.content: Input should be a valid string or list",
                        f"messages.{i}.content")
    system = body.get("system")
    if system is not None and not isinstance(system, str) and not (
        isinstance(system, list)
        and all(isinstance(b, dict) and isinstance(b.get("text"), str) for b in system)
    ):
        raise _fail("system: Input should be a valid string or a list of text blocks", "system")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _fail("tools: Input should be a valid list", "tools")
        for k, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                raise _fail(f"tools.{k}.name: Field required", f"tools.{k}.name")
    choice = body.get("tool_choice")
    if choice is not None and (
        not isinstance(choice, dict) or not isinstance(choice.get("type"), str)
        or choice["type"] not in _TOOL_CHOICES
    ):
        raise _fail("tool_choice: Input tag should be 'auto', 'any', 'tool' or 'none'",
                    "tool_choice")
    if isinstance(choice, dict) and choice["type"] == "tool" and not isinstance(
        choice.get("name"), str
    ):
        raise _fail("tool_choice.tool.name: Field required", "tool_choice.name")


def validate_messages(body: dict[str, Any]) -> None:
    """``POST /v1/messages``: 400 ``invalid_request_error`` naming the field."""
    _common(body)
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise _fail("max_tokens: Field required", "max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _fail("max_tokens: Input should be greater than or equal to 1", "max_tokens")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _fail("stream: Input should be a valid boolean", "stream")
    for name in ("temperature", "top_p"):
        _number(body, name)
    top_k = body.get("top_k")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)):
        raise _fail("top_k: Input should be a valid integer", "top_k")
    stops = body.get("stop_sequences")
    if stops is not None and not (
        isinstance(stops, list) and all(isinstance(s, str) for s in stops)
    ):
        raise _fail("stop_sequences: Input should be a valid list of strings", "stop_sequences")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise _fail("metadata: Input should be a valid dictionary", "metadata")
    fallbacks = body.get("fallbacks")
    if fallbacks is not None and not (
        isinstance(fallbacks, list) and all(isinstance(f, str) for f in fallbacks)
    ):
        raise _fail("fallbacks: Input should be a list of model names", "fallbacks")


def validate_count_tokens(body: dict[str, Any]) -> None:
    """``POST /v1/messages/count_tokens``: the same checks, without ``max_tokens``."""
    _common(body)
