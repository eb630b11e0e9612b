"""Shape checks of Messages API values, worded and located as Anthropic's API words them.

A path names the value as Anthropic's errors do, with the tag of a tagged union after
its index (``messages.1.content.0.tool_use.input: Input should be a valid dictionary``).
``None`` counts as "not given" for optional fields. Every check raises ``InvalidRequest``
(400 ``invalid_request_error``) with the path as its ``param``.

``blocks`` checks the block types the gateway reads or translates; a block of another
type only needs a string ``type`` here (it goes as it is to ``anthropic`` hops;
``messages_api.request`` decides for the others).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from supervisors.errors import InvalidRequest

__all__ = [
    "BOOL",
    "DICT",
    "LIST",
    "STRING",
    "blocks",
    "fail",
    "optional",
    "required",
    "tag_of",
]

STRING = "Input should be a valid string"
DICT = "Input should be a valid dictionary"
LIST = "Input should be a valid list"
BOOL = "Input should be a valid boolean"
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_IMAGE_SOURCES = ("base64", "url", "file")
_DOCUMENT_SOURCES = ("base64", "text", "content", "url", "file")

Kind = type | tuple[type, ...]
_DICT_OR_NONE = (dict, type(None))


def fail(path: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: {message}", param=path)


_WRONG: dict[Kind, str] = {str: STRING, dict: DICT, list: LIST, bool: BOOL,
                           (str, list): "Input should be a valid string or list"}


def optional(obj: dict[str, Any], key: str, kind: Kind, at: str = "") -> Any:
    """``obj[key]`` when it is of ``kind`` (or absent/null: None), else a 400; ``at`` is
    the path of ``obj`` ("" at the top level)."""
    value = obj.get(key)
    if value is not None and not isinstance(value, kind):
        raise fail(f"{at}.{key}" if at else key, _WRONG[kind])
    return value


def required(obj: dict[str, Any], key: str, kind: Kind, at: str) -> Any:
    """``obj[key]``, which must be there and of ``kind``."""
    value = obj.get(key)
    if value is None:
        raise fail(f"{at}.{key}", "Field required")
    if not isinstance(value, kind):
        raise fail(f"{at}.{key}", _WRONG[kind])
    return value


def tag_of(obj: dict[str, Any], at: str, expected: tuple[str, ...]) -> str:
    """The ``type`` of a tagged union member, which must be one of ``expected``."""
    tag = obj.get("type")
    if not isinstance(tag, str):
        raise fail(at, "Unable to extract tag using discriminator 'type'")
    if tag not in expected:
        names = ", ".join(f"'{e}'" for e in expected)
        raise fail(at, f"Input tag '{tag}' found using 'type' does not match any of the "
                       f"expected tags: {names}")
    return tag


def _media(source: dict[str, Any], at: str, allowed: tuple[str, ...]) -> None:
    media = source.get("media_type")
    if not isinstance(media, str) or media not in allowed:
        names = " or ".join(filter(None, (", ".join(f"'{m}'" for m in allowed[:-1]),
                                          f"'{allowed[-1]}'")))
        raise fail(f"{at}.media_type", f"Input should be {names}")


def _image_source(source: dict[str, Any], at: str) -> None:
    kind = tag_of(source, at, _IMAGE_SOURCES)
    at = f"{at}.{kind}"
    if kind == "base64":
        _media(source, at, _IMAGE_TYPES)
        required(source, "data", str, at)
    elif kind == "url":
        required(source, "url", str, at)
    else:
        required(source, "file_id", str, at)


def _text(block: dict[str, Any], at: str) -> None:
    required(block, "text", str, at)
    optional(block, "citations", list, at)


def _image(block: dict[str, Any], at: str) -> None:
    _image_source(required(block, "source", dict, at), f"{at}.source")


def blocks(value: list[Any], at: str, allowed: tuple[str, ...] | None) -> None:
    """A list of content blocks at path ``at``, of the ``allowed`` types (``None``: any
    type; unknown ones need only a string ``type``). Paths are built only for known blocks
    and failures: this runs for every block of every request."""
    for k, block in enumerate(value):
        kind = block.get("type") if isinstance(block, dict) else None
        check = _BLOCKS.get(kind) if isinstance(kind, str) else None
        if check is None or (allowed is not None and kind not in allowed):
            _unchecked(block, f"{at}.{k}", allowed)
            continue
        where = f"{at}.{k}.{kind}"
        check(block, where)
        if not isinstance(block.get("cache_control"), _DICT_OR_NONE):
            raise fail(f"{where}.cache_control", DICT)


def _unchecked(block: Any, at: str, allowed: tuple[str, ...] | None) -> None:
    """A block with no checker of its own: refused unless an unknown type is allowed."""
    if not isinstance(block, dict):
        raise fail(at, DICT)
    if allowed is not None:
        tag_of(block, at, allowed)
    elif not isinstance(block.get("type"), str) or not block["type"]:
        raise fail(at, "Unable to extract tag using discriminator 'type'")


def _document(block: dict[str, Any], at: str) -> None:
    source = required(block, "source", dict, at)
    where = f"{at}.source"
    kind = tag_of(source, where, _DOCUMENT_SOURCES)
    where = f"{where}.{kind}"
    if kind in ("base64", "text"):
        _media(source, where, ("application/pdf",) if kind == "base64" else ("text/plain",))
        required(source, "data", str, where)
    elif kind == "content":
        content = required(source, "content", (str, list), where)
        if isinstance(content, list):
            blocks(content, f"{where}.content", ("text", "image"))
    elif kind == "url":
        required(source, "url", str, where)
    else:
        required(source, "file_id", str, where)
    optional(block, "title", str, at)
    optional(block, "context", str, at)
    optional(block, "citations", dict, at)


def _tool_use(block: dict[str, Any], at: str) -> None:
    required(block, "id", str, at)
    required(block, "name", str, at)
    required(block, "input", dict, at)


def _tool_result(block: dict[str, Any], at: str) -> None:
    required(block, "tool_use_id", str, at)
    content = optional(block, "content", (str, list), at)
    if isinstance(content, list):
        blocks(content, f"{at}.content", None)
    optional(block, "is_error", bool, at)


def _search_result(block: dict[str, Any], at: str) -> None:
    required(block, "source", str, at)
    required(block, "title", str, at)
    blocks(required(block, "content", list, at), f"{at}.content", ("text",))


def _thinking(block: dict[str, Any], at: str) -> None:
    required(block, "thinking", str, at)
    required(block, "signature", str, at)


def _redacted_thinking(block: dict[str, Any], at: str) -> None:
    required(block, "data", str, at)


_BLOCKS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "text": _text, "image": _image, "document": _document, "tool_use": _tool_use,
    "tool_result": _tool_result, "search_result": _search_result, "thinking": _thinking,
    "redacted_thinking": _redacted_thinking,
}
