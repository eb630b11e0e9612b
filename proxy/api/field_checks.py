"""Small checks of one request field: ``check(name, value)`` raises ``InvalidRequest``
naming ``name`` as the ``param``. ``None`` means "not given" (the OpenAI API accepts
``null`` for every optional field), so each check lets it through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from supervisors.errors import InvalidRequest

__all__ = [
    "Check",
    "boolean",
    "integer",
    "number",
    "obj",
    "optional_string",
    "string_list",
    "strings_map",
]

Check = Callable[[str, Any], None]
_NUMBERS = (int, float)


def boolean(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(f"'{name}' must be a boolean", param=name)


def optional_string(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string", param=name)


def obj(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, dict):
        raise InvalidRequest(f"'{name}' must be an object", param=name)


def string_list(name: str, value: Any) -> None:
    if value is not None and not (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        raise InvalidRequest(f"'{name}' must be an array of strings", param=name)


def number(low: float, high: float) -> Check:
    def check(name: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, _NUMBERS):
            raise InvalidRequest(f"'{name}' must be a number", param=name)
        if not low <= value <= high:
            raise InvalidRequest(f"'{name}' must be between {low:g} and {high:g}", param=name)

    return check


def integer(low: int, high: int) -> Check:
    def check(name: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequest(f"'{name}' must be an integer", param=name)
        if not low <= value <= high:
            raise InvalidRequest(f"'{name}' must be between {low} and {high}", param=name)

    return check


def strings_map(value_check: Check) -> Check:
    """An object with string keys (always, in JSON) whose values pass ``value_check``."""

    def check(name: str, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise InvalidRequest(f"'{name}' must be an object", param=name)
        for key, item in value.items():
            if item is None:
                raise InvalidRequest(f"'{name}.{key[:64]}' must not be null", param=name)
            value_check(f"{name}.{key[:64]}", item)

    return check
