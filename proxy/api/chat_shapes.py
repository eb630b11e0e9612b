"""Shapes of the chat fields adapters translate: messages and their content parts and
tool calls, tools, tool_choice and response_format — as the OpenAI API defines them.

Each check takes ``(name, value)`` like those of ``field_checks`` and raises
``InvalidRequest`` naming the offending element (``messages[2].tool_calls[0].function``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from supervisors.errors import InvalidRequest

__all__ = [
    "check_messages",
    "check_response_format",
    "check_tool_choice",
    "check_tools",
    "clean_name",
]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_name(value: str, param: str) -> None:
    """A model name (stored, logged, routed on): at most 256 characters, no control
    characters."""
    if len(value) > 256:
        raise InvalidRequest(f"'{param}' is too long (at most 256 characters)", param=param)
    if _CONTROL.search(value):
        raise InvalidRequest(f"'{param}' must not contain control characters", param=param)


def _bad(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"'{param}' must be {what}", param=param)


def _string(value: Any, param: str, *, required: bool = False, nonempty: bool = False) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or (nonempty and not value):
        raise _bad(param, "a non-empty string" if nonempty else "a string")


def _object(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(param, "an object")
    return value


# -- messages -------------------------------------------------------------------------
# The per-element checks return ``None`` or ``(path suffix, what it must be)``, so the
# element's path (``messages[3].content[1]``) is only built for an error.

Problem = tuple[str, str] | None


def check_messages(name: str, messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = message.get("role")
        if role.__class__ is not str or role not in ROLES:
            raise InvalidRequest(
                f"messages[{i}].role must be one of {sorted(ROLES)}",
                param=f"messages[{i}].role",
            )
        content = message.get("content")
        problem: Problem = None
        if content is not None and content.__class__ is not str:
            if content.__class__ is not list:
                problem = (".content", "a string or an array of content parts")
            else:
                for j, part in enumerate(content):
                    problem = _part(part)
                    if problem is not None:
                        problem = (f".content[{j}]{problem[0]}", problem[1])
                        break
        # the common message is just role and content: nothing more to look at
        if problem is None and (len(message) > 2 or role == "tool" or "content" not in message):
            problem = _message_extras(message, role)
        if problem is not None:
            raise _bad(f"messages[{i}]{problem[0]}", problem[1])


def _message_extras(message: dict[str, Any], role: str) -> Problem:
    for key, value in message.items():
        check = _EXTRAS.get(key)
        if check is not None and value is not None:
            problem = check(value)
            if problem is not None:
                return f".{key}{problem[0]}", problem[1]
    if role == "tool" and message.get("tool_call_id").__class__ is not str:
        return ".tool_call_id", "a string"
    return None


def _text(value: Any) -> Problem:
    return None if value.__class__ is str else ("", "a string")


def _audio(value: Any) -> Problem:
    return None if value.__class__ is dict else ("", "an object")


def _tool_calls(calls: Any) -> Problem:
    if calls.__class__ is not list:
        return "", "an array"
    for j, call in enumerate(calls):
        problem = _tool_call(call)
        if problem is not None:
            return f"[{j}]{problem[0]}", problem[1]
    return None


def _part(part: Any) -> Problem:
    if part.__class__ is not dict:
        return "", "a content part object"
    kind = part.get("type")
    if kind == "text":
        return None if part.get("text").__class__ is str else (".text", "a string")
    if kind == "image_url":
        image = part.get("image_url")
        if image.__class__ is str:
            return None
        if image.__class__ is not dict:
            return ".image_url", "an object with a url"
        if image.get("url").__class__ is not str:
            return ".image_url.url", "a string"
        detail = image.get("detail")
        return None if detail is None or detail.__class__ is str else (
            ".image_url.detail", "a string")
    if kind == "input_audio":
        audio = part.get("input_audio")
        if audio.__class__ is not dict:
            return ".input_audio", "an object"
        if audio.get("data").__class__ is not str or audio.get("format").__class__ is not str:
            return ".input_audio", "an object with string data and format"
        return None
    if kind == "file":
        file = part.get("file")
        if file.__class__ is not dict:
            return ".file", "an object"
        for field in ("file_data", "file_id", "filename"):
            value = file.get(field)
            if value is not None and value.__class__ is not str:
                return f".file.{field}", "a string"
        return None
    if kind == "refusal":
        return None if part.get("refusal").__class__ is str else (".refusal", "a string")
    return ".type", "one of 'text', 'image_url', 'input_audio', 'file', 'refusal'"


def _tool_call(call: Any) -> Problem:
    if call.__class__ is not dict:
        return "", "an object"
    call_id, kind = call.get("id"), call.get("type")
    if call_id is not None and call_id.__class__ is not str:
        return ".id", "a string"
    if kind is not None and kind.__class__ is not str:
        return ".type", "a string"
    if kind == "custom":
        custom = call.get("custom")
        if (custom.__class__ is not dict or custom.get("name").__class__ is not str
                or custom.get("input").__class__ is not str):
            return ".custom", "an object with string name and input"
        return None
    problem = _function_call(call.get("function"))
    return None if problem is None else (f".function{problem[0]}", problem[1])


def _function_call(function: Any) -> Problem:
    if function.__class__ is not dict:
        return "", "an object"
    if function.get("name").__class__ is not str:
        return ".name", "a string"
    if function.get("arguments").__class__ is not str:
        return ".arguments", "a string (JSON-encoded arguments)"
    return None


#: message fields besides role and content → their check (of a non-null value)
_EXTRAS: dict[str, Callable[[Any], Problem]] = {
    "name": _text,
    "tool_call_id": _text,
    "refusal": _text,
    "tool_calls": _tool_calls,
    "function_call": _function_call,
    "audio": _audio,
}


# -- tools ----------------------------------------------------------------------------


def check_tools(name: str, tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _bad(name, "an array of tools")
    for j, tool in enumerate(tools):
        where = f"{name}[{j}]"
        tool = _object(tool, where)
        kind = tool.get("type", "function")
        if kind == "function":
            function = _object(tool.get("function"), f"{where}.function")
            _string(function.get("name"), f"{where}.function.name", required=True, nonempty=True)
            _string(function.get("description"), f"{where}.function.description")
            if function.get("parameters") is not None:
                _object(function["parameters"], f"{where}.function.parameters")
            strict = function.get("strict")
            if strict is not None and not isinstance(strict, bool):
                raise _bad(f"{where}.function.strict", "a boolean")
        elif kind == "custom":
            custom = _object(tool.get("custom"), f"{where}.custom")
            _string(custom.get("name"), f"{where}.custom.name", required=True, nonempty=True)
            _string(custom.get("description"), f"{where}.custom.description")
            if custom.get("format") is not None:
                _object(custom["format"], f"{where}.custom.format")
        else:
            raise _bad(f"{where}.type", "'function' or 'custom'")


def check_tool_choice(name: str, choice: Any) -> None:
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise _bad(name, "'none', 'auto', 'required' or an object naming a tool")
        return
    choice = _object(choice, name)
    kind = choice.get("type", "function")
    if kind == "function":
        function = _object(choice.get("function"), f"{name}.function")
        _string(function.get("name"), f"{name}.function.name", required=True, nonempty=True)
    elif kind == "custom":
        custom = _object(choice.get("custom"), f"{name}.custom")
        _string(custom.get("name"), f"{name}.custom.name", required=True, nonempty=True)
    elif kind == "allowed_tools":
        allowed = _object(choice.get("allowed_tools"), f"{name}.allowed_tools")
        _string(allowed.get("mode"), f"{name}.allowed_tools.mode")
        tools = allowed.get("tools")
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            raise _bad(f"{name}.allowed_tools.tools", "an array of objects")
    else:
        raise _bad(f"{name}.type", "'function', 'custom' or 'allowed_tools'")


def check_response_format(name: str, fmt: Any) -> None:
    if fmt is None:
        return
    fmt = _object(fmt, name)
    kind = fmt.get("type")
    if kind in ("text", "json_object"):
        return
    if kind != "json_schema":
        raise _bad(f"{name}.type", "'text', 'json_object' or 'json_schema'")
    schema = _object(fmt.get("json_schema"), f"{name}.json_schema")
    _string(schema.get("name"), f"{name}.json_schema.name")
    _string(schema.get("description"), f"{name}.json_schema.description")
    if schema.get("schema") is not None:
        _object(schema["schema"], f"{name}.json_schema.schema")
    strict = schema.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise _bad(f"{name}.json_schema.strict", "a boolean")
