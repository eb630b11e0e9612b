"""OpenAI chat request → Anthropic Messages request (see ``adapters.anthropic`` for the rules)."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest
from .openai_shapes import (
    content_text,
    max_tokens_of,
    parse_data_url,
    stop_list,
    tool_arguments,
)

__all__ = ["prefill_whitespace", "to_messages_request"]

#: from this API version on, temperature / top_p / top_k are rejected outright
NO_SAMPLING_VERSION = "2026-10-21"
_PLACEHOLDER_USER = {"role": "user", "content": "."}

Content = str | list[dict[str, Any]]


def to_messages_request(
    chat: dict[str, Any], *, stream: bool, version: str, default_max_tokens: int
) -> dict[str, Any]:
    """An OpenAI chat request as a Messages API request body."""
    n = chat.get("n")
    if n is not None and n != 1:
        raise InvalidRequest("provider type 'anthropic' supports only n = 1", param="n")
    model = chat.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model is required", param="model")
    system, messages = _convert_messages(chat.get("messages"))
    out: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens_of(chat) or default_max_tokens,
        "messages": messages,
    }
    if system:
        out["system"] = system
    stop = stop_list(chat.get("stop"))
    if stop:
        out["stop_sequences"] = stop
    if version < NO_SAMPLING_VERSION:
        _sampling(chat, out)
    user = chat.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    _tools(chat, out)
    fmt = chat.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise InvalidRequest("json_schema.schema must be an object", param="response_format")
        out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    if stream:
        out["stream"] = True
    return out


def _sampling(chat: dict[str, Any], out: dict[str, Any]) -> None:
    for name in ("temperature", "top_p", "top_k"):
        value = chat.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRequest(f"{name} must be a number", param=name)
        out[name] = min(max(value, 0), 1) if name == "temperature" else value


def _tools(chat: dict[str, Any], out: dict[str, Any]) -> None:
    tools = chat.get("tools")
    if not tools:
        return
    if not isinstance(tools, list):
        raise InvalidRequest("tools must be a list", param="tools")
    converted = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type", "function") != "function":
            raise InvalidRequest("only function tools are supported", param="tools")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("every tool needs a function name", param="tools")
        entry: dict[str, Any] = {"name": name}
        if function.get("description"):
            entry["description"] = function["description"]
        entry["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
        converted.append(entry)
    out["tools"] = converted
    choice = chat.get("tool_choice")
    tool_choice: dict[str, Any] | None
    if choice is None or choice == "auto":
        tool_choice = {"type": "auto"}
    elif choice == "none":
        tool_choice = {"type": "none"}
    elif choice == "required":
        tool_choice = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("tool_choice.function.name is required", param="tool_choice")
        tool_choice = {"type": "tool", "name": name}
    else:
        raise InvalidRequest("unsupported tool_choice", param="tool_choice")
    if chat.get("parallel_tool_calls") is False and tool_choice["type"] != "none":
        tool_choice["disable_parallel_tool_use"] = True
    if choice is not None or len(tool_choice) > 1:
        out["tool_choice"] = tool_choice


def prefill_whitespace(chat: dict[str, Any]) -> str:
    """Trailing whitespace of a final assistant (prefill) message: cut from the request."""
    messages = chat.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return ""
    last = messages[-1]
    if last.get("role") != "assistant" or last.get("tool_calls"):
        return ""
    try:
        text = content_text(last.get("content"))
    except InvalidRequest:
        return ""
    return text[len(text.rstrip()) :]


def _convert_messages(messages: Any) -> tuple[str, list[dict[str, Any]]]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, dict):
            raise InvalidRequest("each message must be an object", param="messages")
        role = message.get("role")
        content: Content
        if role in ("system", "developer"):
            text = content_text(message.get("content"))
            if text:
                system.append(text)
            continue
        if role == "user":
            content = _user_content(message.get("content"))
        elif role == "assistant":
            content = _assistant_content(message)
            if not content:
                continue
        elif role == "tool":
            role, content = "user", [_tool_result(message)]
        else:
            raise InvalidRequest(f"unsupported message role {role!r}", param="messages")
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] = _blocks(turns[-1]["content"]) + _blocks(content)
        else:
            turns.append({"role": role, "content": content})
    if prefill_whitespace({"messages": messages}) and turns and turns[-1]["role"] == "assistant":
        _strip_prefill(turns)
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, dict(_PLACEHOLDER_USER))
    return "\n\n".join(system), turns


def _strip_prefill(turns: list[dict[str, Any]]) -> None:
    content = turns[-1]["content"]
    if isinstance(content, str):
        content = content.rstrip()
    elif content and content[-1].get("type") == "text":
        content[-1] = {**content[-1], "text": content[-1]["text"].rstrip()}
        if not content[-1]["text"]:
            content.pop()
    if content:
        turns[-1]["content"] = content
    else:
        turns.pop()


def _blocks(content: Content) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def _user_content(content: Any) -> Content:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequest("user message content must be a string or a list", param="messages")
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": str(part["text"])})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url")))
        else:
            raise InvalidRequest(
                f"content part type {kind!r} is not supported by provider type 'anthropic'",
                param="messages",
            )
    return blocks


def _image(image: Any) -> dict[str, Any]:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise InvalidRequest("image_url.url must be a string", param="messages")
    data = parse_data_url(url)
    if data is not None:
        source = {"type": "base64", "media_type": data[0], "data": data[1]}
    elif url.startswith(("http://", "https://")):
        source = {"type": "url", "url": url}
    else:
        raise InvalidRequest("image_url.url must be an http(s) or data URL", param="messages")
    return {"type": "image", "source": source}


def _assistant_content(message: dict[str, Any]) -> Content:
    text = content_text(message.get("content"))
    calls = message.get("tool_calls")
    if not calls:
        return text
    if not isinstance(calls, list):
        raise InvalidRequest("tool_calls must be a list", param="messages")
    blocks = _blocks(text)
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not call.get("id"):
            raise InvalidRequest("each tool call needs an id and a function", param="messages")
        blocks.append(
            {
                "type": "tool_use",
                "id": str(call["id"]),
                "name": str(function.get("name") or ""),
                "input": tool_arguments(function.get("arguments")),
            }
        )
    return blocks


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest("tool messages need a tool_call_id", param="messages")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    text = content_text(message.get("content"))
    if text:
        block["content"] = text
    return block
