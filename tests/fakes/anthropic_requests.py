"""Strict request checks for the fake Anthropic Messages API.

Rejects with 400 what the real API rejects, plus consecutive same-role messages
(the real API merges them; our adapter must merge them itself). Messages follow
the real API's wording.
"""

from __future__ import annotations

from typing import Any

from .content import Conversation, Turn

__all__ = ["conversation_from_messages", "validate_messages_request"]

TOP_LEVEL = frozenset({
    "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream",
    "temperature", "top_k", "top_p", "tools", "tool_choice", "thinking", "service_tier",
    "container", "mcp_servers", "context_management", "cache_control", "output_config",
    "inference_geo", "speed", "diagnostics", "user_profile_id", "workspace_id",
})
#: fields ``/v1/messages/count_tokens`` refuses
NOT_COUNTED = frozenset({"stream", "stop_sequences", "temperature", "top_k", "top_p",
                         "metadata", "service_tier", "container", "inference_geo", "speed"})
BLOCK_TYPES = frozenset({"text", "image", "document", "tool_use", "tool_result", "thinking",
                         "redacted_thinking", "search_result", "server_tool_use"})
MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def _text_block_error(block: dict[str, Any], where: str) -> str | None:
    if not isinstance(block.get("text"), str):
        return f"{where}.text: Field required"
    if not block["text"]:
        return "messages: text content blocks must be non-empty"
    return None


def _image_error(block: dict[str, Any], where: str) -> str | None:
    source = block.get("source")
    if not isinstance(source, dict):
        return f"{where}.source: Field required"
    if source.get("type") == "base64":
        if source.get("media_type") not in MEDIA_TYPES:
            return (f"{where}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', "
                    "'image/gif' or 'image/webp'")
        if not isinstance(source.get("data"), str) or not source["data"]:
            return f"{where}.source.base64.data: Field required"
        return None
    if source.get("type") == "url":
        return None if isinstance(source.get("url"), str) else f"{where}.source.url.url: Field required"
    return (f"{where}.source: Input tag '{source.get('type')}' found using 'type' does not match "
            "any of the expected tags: 'base64', 'url', 'file'")


def _block_error(block: Any, where: str, role: str, prev_tool_ids: set[str]) -> str | None:
    if not isinstance(block, dict):
        return f"{where}: Input should be a valid dictionary or object"
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        return (f"{where}: Input tag '{kind}' found using 'type' does not match any of the "
                "expected tags: 'text', 'image', 'document', 'tool_use', 'tool_result', ...")
    if kind == "text":
        return _text_block_error(block, where)
    if kind == "image":
        return _image_error(block, where)
    if kind == "tool_use":
        if role != "assistant":
            return f"{where}: tool_use blocks are only allowed in assistant messages"
        if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
            return f"{where}: tool_use blocks require 'id' and 'name'"
        if not isinstance(block.get("input"), dict):
            return f"{where}.input: Input should be a valid dictionary"
    if kind == "tool_result":
        if role != "user":
            return f"{where}: tool_result blocks are only allowed in user messages"
        if block.get("tool_use_id") not in prev_tool_ids:
            return (f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{block.get('tool_use_id')}. Each `tool_result` block must have a "
                    "corresponding `tool_use` block in the previous message.")
    return None


def _tool_use_ids(content: Any) -> set[str]:
    if not isinstance(content, list):
        return set()
    return {b["id"] for b in content
            if isinstance(b, dict) and b.get("type") == "tool_use" and isinstance(b.get("id"), str)}


def _tool_result_ids(content: Any) -> set[str]:
    if not isinstance(content, list):
        return set()
    return {b["tool_use_id"] for b in content if isinstance(b, dict)
            and b.get("type") == "tool_result" and isinstance(b.get("tool_use_id"), str)}


def _message_error(i: int, msg: Any, messages: list[Any]) -> str | None:
    if not isinstance(msg, dict):
        return f"messages.{i}: Input should be a valid dictionary"
    role = msg.get("role")
    if role == "system":
        return ('messages: Unexpected role "system". The Messages API accepts a top-level '
                '`system` parameter, not "system" as an input message role.')
    if role not in ("user", "assistant"):
        return f"messages.{i}.role: Input should be 'user' or 'assistant'"
    if i == 0 and role != "user":
        return 'messages: first message must use the "user" role'
    if i > 0 and isinstance(messages[i - 1], dict) and messages[i - 1].get("role") == role:
        return (f'messages: roles must alternate between "user" and "assistant", but found '
                f'multiple "{role}" roles in a row')
    content = msg.get("content")
    last = i == len(messages) - 1
    if isinstance(content, str):
        if not content and not (last and role == "assistant"):
            return ("messages: all messages must have non-empty content except for the "
                    "optional final assistant message")
    elif isinstance(content, list):
        if not content and not (last and role == "assistant"):
            return ("messages: all messages must have non-empty content except for the "
                    "optional final assistant message")
        prev = _tool_use_ids(messages[i - 1].get("content")) if i > 0 else set()
        for j, block in enumerate(content):
            if (err := _block_error(block, f"messages.{i}.content.{j}", role, prev)) is not None:
                return err
    else:
        return f"messages.{i}.content: Input should be a valid string or list"
    pending = _tool_use_ids(content)
    if pending and not last:
        missing = pending - _tool_result_ids(messages[i + 1].get("content"))
        if missing:
            return (f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(sorted(missing))}. Each `tool_use` block "
                    "must have a corresponding `tool_result` block in the next message.")
    if last and role == "assistant" and _text(content) != _text(content).rstrip():
        return "messages: final assistant content cannot end with trailing whitespace"
    return None


def _system_error(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return None
    if isinstance(system, list) and all(
        isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        for b in system
    ):
        return None
    return "system: Input should be a valid string or a list of text blocks"


def validate_messages_request(body: dict[str, Any], *, count: bool = False) -> str | None:
    """The 400 message the real API would give, or None when the body is acceptable."""
    for name in body:
        if name not in TOP_LEVEL or (count and name in NOT_COUNTED):
            return f"{name}: Extra inputs are not permitted"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        return "max_tokens: Field required"
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "messages: Field required"
    if not messages:
        return "messages: at least one message is required"
    for i, msg in enumerate(messages):
        if (err := _message_error(i, msg, messages)) is not None:
            return err
    if (err := _system_error(body.get("system"))) is not None:
        return err
    if "stream" in body and not isinstance(body["stream"], bool):
        return "stream: Input should be a valid boolean"
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 1):
        return "temperature: Input should be less than or equal to 1"
    for k, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            return f"tools.{k}.name: Field required"
        if tool.get("type") in (None, "custom") and not isinstance(tool.get("input_schema"), dict):
            return f"tools.{k}.custom.input_schema: Field required"
    return None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(block.get("text", ""))
        elif isinstance(block, dict) and block.get("type") == "tool_result":
            parts.append(_text(block.get("content", "")))
    return "".join(parts)


def conversation_from_messages(body: dict[str, Any]) -> Conversation:
    """Neutral turns: a user message made only of tool results counts as a tool turn."""
    system = body.get("system")
    turns = [Turn("system", _text(system))] if system else []
    for msg in body["messages"]:
        content = msg["content"]
        has_results = bool(_tool_result_ids(content))
        texts = [b for b in content if isinstance(b, dict) and b.get("type") == "text"] \
            if isinstance(content, list) else []
        if msg["role"] == "user" and has_results:
            turns.append(Turn("tool", _text([b for b in content if b.get("type") == "tool_result"])))
            if texts:
                turns.append(Turn("user", _text(texts)))
            continue
        turns.append(Turn(msg["role"], _text(content)))
    tools = [t["name"] for t in body.get("tools") or []]
    return Conversation(turns, tools, body["max_tokens"], tuple(body.get("stop_sequences") or ()))
