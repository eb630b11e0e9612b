"""Input items: checked, normalised (every item gets an id) and turned into chat messages.

Accepted item types are the ones a chat model can carry: messages (roles ``user``,
``assistant``, ``system``, ``developer``; parts ``input_text``, ``input_image``,
``output_text``, ``refusal``), ``function_call`` and ``function_call_output``.
``reasoning`` items (sent back by clients that asked for encrypted reasoning) are kept in
the stored input but never sent upstream: no provider here could read them. Anything
else is a 400 naming the item.
"""

from __future__ import annotations

import os
from typing import Any

from supervisors.errors import InvalidRequest

__all__ = ["ITEM_TYPES", "new_id", "normalise_input", "random_hex", "to_messages"]

_ROLES = ("user", "assistant", "system", "developer")
_INPUT_PARTS = ("input_text", "input_image", "output_text", "refusal")
ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning")
_MAX_ITEMS = 10_000


class _Random:
    """Bytes from ``os.urandom`` (the same source as ``secrets``), read 4 KiB at a time: a
    request mints several ids, and one system call per id was a measurable share of
    its CPU."""

    __slots__ = ("_buffer", "_at")

    def __init__(self) -> None:
        self._buffer = b""
        self._at = 0

    def reset(self) -> None:
        self._buffer, self._at = b"", 0

    def hex(self, nbytes: int) -> str:
        at = self._at
        if at + nbytes > len(self._buffer):
            self._buffer, at = os.urandom(max(4096, nbytes)), 0
        self._at = at + nbytes
        return self._buffer[at:at + nbytes].hex()


_RANDOM = _Random()
random_hex = _RANDOM.hex
# a forked worker must never hand out its parent's unread bytes
os.register_at_fork(after_in_child=_RANDOM.reset)


def new_id(prefix: str) -> str:
    """An OpenAI-like id: ``resp_``, ``msg_``, ``fc_`` … followed by 48 hex digits."""
    return f"{prefix}_{random_hex(24)}"


def _fail(message: str, param: str, code: str | None = None) -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code or "invalid_value")


def _string(item: dict[str, Any], name: str, param: str, *, required: bool = True) -> str | None:
    value = item.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _fail(f"Invalid type for '{param}.{name}': expected a string.", f"{param}.{name}",
                    "invalid_type")
    return value


def _part(part: Any, role: str, param: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise _fail(f"Invalid type for '{param}': expected an object.", param, "invalid_type")
    kind = part.get("type")
    if kind not in _INPUT_PARTS:
        raise _fail(
            f"Invalid value: {str(kind)[:60]!r}. Supported values are: "
            + ", ".join(f"'{k}'" for k in _INPUT_PARTS) + ".",
            f"{param}.type",
        )
    if kind in ("input_text", "output_text"):
        return {**part, "text": _string(part, "text", param)}
    if kind == "refusal":
        return {**part, "refusal": _string(part, "refusal", param)}
    if role == "assistant":
        raise _fail("Assistant messages cannot contain images.", f"{param}.type")
    url = part.get("image_url")
    if part.get("file_id") is not None and url is None:
        raise _fail("'file_id' images are not supported by this gateway; send 'image_url' "
                    "(an https or data URL).", f"{param}.file_id", "unsupported_parameter")
    if not isinstance(url, str) or not url:
        raise _fail(f"Missing required parameter: '{param}.image_url'.", f"{param}.image_url",
                    "missing_required_parameter")
    detail = part.get("detail", "auto")
    if detail not in ("auto", "low", "high", "original"):
        raise _fail(f"Invalid value for '{param}.detail'.", f"{param}.detail")
    return {"type": "input_image", "image_url": url, "detail": detail}


def _message(item: dict[str, Any], param: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in _ROLES:
        raise _fail(
            f"Invalid value: {str(role)[:60]!r}. Supported values are: "
            + ", ".join(f"'{r}'" for r in _ROLES) + ".",
            f"{param}.role",
        )
    content = item.get("content")
    if isinstance(content, str):
        kind = "output_text" if role == "assistant" else "input_text"
        parts = [{"type": kind, "text": content}]
    elif isinstance(content, list):
        parts = [_part(p, role, f"{param}.content[{i}]") for i, p in enumerate(content)]
    else:
        raise _fail(f"Invalid type for '{param}.content': expected a string or an array.",
                    f"{param}.content", "invalid_type")
    if role == "assistant":
        parts = [_as_output(p) for p in parts]
    return {"id": _item_id(item, "msg"), "type": "message", "role": role, "content": parts,
            "status": "completed"}


def _as_output(part: dict[str, Any]) -> dict[str, Any]:
    if part["type"] == "input_text":
        return {"type": "output_text", "text": part["text"], "annotations": []}
    if part["type"] == "output_text":
        return {"annotations": [], **part}
    return part


def _item_id(item: dict[str, Any], prefix: str) -> str:
    value = item.get("id")
    if isinstance(value, str) and 0 < len(value) <= 128:
        return value
    return new_id(prefix)


def _function_call(item: dict[str, Any], param: str) -> dict[str, Any]:
    return {
        "id": _item_id(item, "fc"),
        "type": "function_call",
        "call_id": _string(item, "call_id", param),
        "name": _string(item, "name", param),
        "arguments": _string(item, "arguments", param),
        "status": "completed",
    }


def _function_output(item: dict[str, Any], param: str) -> dict[str, Any]:
    output = item.get("output")
    if isinstance(output, list):
        output = [_part(p, "user", f"{param}.output[{i}]") for i, p in enumerate(output)]
    elif not isinstance(output, str):
        raise _fail(f"Invalid type for '{param}.output': expected a string or an array.",
                    f"{param}.output", "invalid_type")
    return {
        "id": _item_id(item, "fco"),
        "type": "function_call_output",
        "call_id": _string(item, "call_id", param),
        "output": output,
        "status": "completed",
    }


def _reasoning(item: dict[str, Any]) -> dict[str, Any]:
    summary = item.get("summary")
    return {"id": _item_id(item, "rs"), "type": "reasoning",
            "summary": summary if isinstance(summary, list) else []}


def normalise_input(value: Any) -> list[dict[str, Any]]:
    """The request's ``input`` as a list of items with ids; a 400 for anything else."""
    if isinstance(value, str):
        return [{"id": new_id("msg"), "type": "message", "role": "user", "status": "completed",
                 "content": [{"type": "input_text", "text": value}]}]
    if not isinstance(value, list):
        raise _fail("Invalid type for 'input': expected a string or an array of input items.",
                    "input", "invalid_type")
    if len(value) > _MAX_ITEMS:
        raise _fail(f"'input' has more than {_MAX_ITEMS} items.", "input")
    items: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        param = f"input[{i}]"
        if not isinstance(item, dict):
            raise _fail(f"Invalid type for '{param}': expected an object.", param, "invalid_type")
        kind = item.get("type", "message")
        if kind == "message":
            items.append(_message(item, param))
        elif kind == "function_call":
            items.append(_function_call(item, param))
        elif kind == "function_call_output":
            items.append(_function_output(item, param))
        elif kind == "reasoning":
            items.append(_reasoning(item))
        else:
            raise _fail(
                f"Invalid value: {str(kind)[:60]!r}. Supported values are: "
                + ", ".join(f"'{k}'" for k in ITEM_TYPES) + ".",
                f"{param}.type",
            )
    return items


# -- items → chat messages ------------------------------------------------------------


def _chat_part(part: dict[str, Any]) -> dict[str, Any]:
    if part["type"] == "input_image":
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail") in ("low", "high"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    text = part.get("text") if part["type"] != "refusal" else part.get("refusal")
    return {"type": "text", "text": text or ""}


def _text_of(parts: list[dict[str, Any]]) -> str:
    return "".join(
        (p.get("text") if p["type"] != "refusal" else p.get("refusal")) or ""
        for p in parts if p["type"] != "input_image"
    )


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if all(p["type"] != "input_image" for p in parts):
        return _text_of(parts)
    return [_chat_part(p) for p in parts]


def to_messages(items: list[dict[str, Any]], instructions: str | None) -> list[dict[str, Any]]:
    """Chat messages for a conversation of normalised items (oldest first).

    Consecutive ``function_call`` items become one assistant message with ``tool_calls``
    (joined to the assistant text right before them); ``developer`` becomes ``system``,
    which every provider understands.
    """
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for item in items:
        kind = item["type"]
        if kind == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            content = _content(item["content"])
            if role == "assistant":
                content = _text_of(item["content"])
            messages.append({"role": role, "content": content})
        elif kind == "function_call":
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item["output"]
            text = output if isinstance(output, str) else _text_of(output)
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": text})
    return messages
