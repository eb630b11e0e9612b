"""Checks of a Messages API request body, before it goes anywhere.

The shapes Anthropic's API enforces, for every field the gateway reads or translates, at
every level (messages and their content blocks, ``system``, ``tools``, ``tool_choice``,
sampling fields, ``metadata``, ``thinking``, ``output_config``), refused with a 400
``invalid_request_error`` naming the path as Anthropic does
(``messages.0.content.1.text.text: Input should be a valid string``). A body refused here
never reaches an upstream, so a native hop and a translated one refuse it alike. Block
types the gateway does not know need only a string ``type``: they go as they are to
``anthropic`` providers; for the others ``messages_api.request`` translates, leaves out
or refuses them by name. One pass over the body, ``isinstance`` checks only.
"""

from __future__ import annotations

from typing import Any

from .shapes import DICT, LIST, STRING, blocks, fail, optional, required, tag_of

__all__ = ["validate_count_tokens", "validate_messages"]

#: ``system`` is accepted inside ``messages`` (folded into the system prompt): Claude Code
_ROLES = frozenset({"user", "assistant", "system"})
_TOOL_CHOICES = ("auto", "any", "tool", "none")
_EMPTY = "all messages must have non-empty content except for the optional final assistant message"


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(body: dict[str, Any], name: str, high: float | None) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(name, "Input should be a valid number")
    if value < 0:
        raise fail(name, "Input should be greater than or equal to 0")
    if high is not None and value > high:
        raise fail(name, f"Input should be less than or equal to {high:g}")


def _message(message: Any, i: int, last: bool) -> None:
    if not isinstance(message, dict):
        raise fail(f"messages.{i}", DICT)
    role = message.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise fail(f"messages.{i}.role", "Input should be 'user' or 'assistant'")
    content = message.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise fail(f"messages.{i}.content", "Field required" if content is None
                   else "Input should be a valid string or list")
    if not content and not (last and role == "assistant"):
        raise fail(f"messages.{i}", _EMPTY)
    blocks(content, f"messages.{i}.content", None)


def _system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise fail("system", "Input should be a valid string or list")
    for k, block in enumerate(system):
        at = f"system.{k}"
        if not isinstance(block, dict):
            raise fail(at, DICT)
        tag_of(block, at, ("text",))
        required(block, "text", str, at)
        optional(block, "cache_control", dict, at)


def _tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise fail("tools", LIST)
    for k, tool in enumerate(tools):
        at = f"tools.{k}"
        if not isinstance(tool, dict):
            raise fail(at, DICT)
        kind = tool.get("type")
        if kind is not None and not isinstance(kind, str):
            raise fail(f"{at}.type", STRING)
        if kind in (None, "custom"):  # a client tool; any other type is a server tool
            at = f"{at}.custom"
            required(tool, "input_schema", dict, at)
            optional(tool, "description", str, at)
        else:
            at = f"{at}.{kind}"
        required(tool, "name", str, at)
        optional(tool, "cache_control", dict, at)


def _tool_choice(choice: Any) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict):
        raise fail("tool_choice", DICT)
    kind = tag_of(choice, "tool_choice", _TOOL_CHOICES)
    if kind == "tool":
        required(choice, "name", str, "tool_choice.tool")
    optional(choice, "disable_parallel_tool_use", bool, f"tool_choice.{kind}")


def _thinking(thinking: Any) -> None:
    if thinking is None:
        return
    if not isinstance(thinking, dict):
        raise fail("thinking", DICT)
    kind = thinking.get("type")
    if not isinstance(kind, str):
        raise fail("thinking", "Unable to extract tag using discriminator 'type'")
    budget = thinking.get("budget_tokens")
    if budget is not None and not _integer(budget):
        raise fail(f"thinking.{kind}.budget_tokens", "Input should be a valid integer")


def _output_config(config: Any) -> None:
    if config is None:
        return
    if not isinstance(config, dict):
        raise fail("output_config", DICT)
    optional(config, "effort", str, "output_config")
    fmt = optional(config, "format", dict, "output_config")
    if fmt is not None and fmt.get("type") == "json_schema":
        required(fmt, "schema", dict, "output_config.format.json_schema")
    elif fmt is not None and not isinstance(fmt.get("type"), str):
        raise fail("output_config.format", "Unable to extract tag using discriminator 'type'")


def _common(body: dict[str, Any]) -> None:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise fail("model", "Field required")
    if len(model) > 256:
        raise fail("model", "String should have at most 256 characters")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise fail("messages", "Field required" if messages is None else LIST)
    if not messages:
        raise fail("messages", "at least one message is required")
    last = len(messages) - 1
    for i, message in enumerate(messages):
        _message(message, i, i == last)
    _system(body.get("system"))
    _tools(body.get("tools"))
    _tool_choice(body.get("tool_choice"))
    _thinking(body.get("thinking"))
    _output_config(body.get("output_config"))


def validate_messages(body: dict[str, Any]) -> None:
    """``POST /v1/messages``: 400 ``invalid_request_error`` naming the field."""
    _common(body)
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise fail("max_tokens", "Field required")
    if not _integer(max_tokens):
        raise fail("max_tokens", "Input should be a valid integer")
    if max_tokens < 1:
        raise fail("max_tokens", "Input should be greater than or equal to 1")
    optional(body, "stream", bool)
    _number(body, "temperature", 1)
    _number(body, "top_p", 1)
    top_k = body.get("top_k")
    if top_k is not None and not _integer(top_k):
        raise fail("top_k", "Input should be a valid integer")
    _number(body, "top_k", None)
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list):
            raise fail("stop_sequences", LIST)
        for k, stop in enumerate(stops):
            if not isinstance(stop, str):
                raise fail(f"stop_sequences.{k}", STRING)
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise fail("metadata", DICT)
        optional(metadata, "user_id", str, "metadata")
    fallbacks = body.get("fallbacks")
    if fallbacks is not None and not (
        isinstance(fallbacks, list) and all(isinstance(f, str) for f in fallbacks)
    ):
        raise fail("fallbacks", "Input should be a list of model names")


def validate_count_tokens(body: dict[str, Any]) -> None:
    """``POST /v1/messages/count_tokens``: the same checks, without ``max_tokens``."""
    _common(body)
