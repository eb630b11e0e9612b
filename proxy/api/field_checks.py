"""Small checks of one request field: ``check(name, value)`` raises ``InvalidRequest``
naming ``name`` as the ``param``. ``None`` means "not given" (the OpenAI API accepts
``null`` for every optional field), so each check lets it through.

Each check also has a JSON Schema (``schema_of``; ``described`` gives one to a check
written elsewhere), from which ``/openapi.json`` describes the request bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from supervisors.errors import InvalidRequest

__all__ = [
    "Check",
    "boolean",
    "described",
    "integer",
    "number",
    "obj",
    "optional_string",
    "schema_of",
    "string_list",
    "strings_map",
]

Check = Callable[[str, Any], None]
_NUMBERS = (int, float)
_SCHEMAS: dict[Check, dict[str, Any]] = {}


def described(check: Check, schema: dict[str, Any]) -> Check:
    """``check`` itself, its JSON Schema recorded for ``schema_of``."""
    _SCHEMAS[check] = schema
    return check


def schema_of(check: Check) -> dict[str, Any]:
    """The JSON Schema of what ``check`` accepts (``{}``, anything, if none was given)."""
    return dict(_SCHEMAS.get(check, {}))


def _or_null(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **more}


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

    return described(check, _or_null("number", minimum=low, maximum=high))


def integer(low: int, high: int) -> Check:
    def check(name: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequest(f"'{name}' must be an integer", param=name)
        if not low <= value <= high:
            raise InvalidRequest(f"'{name}' must be between {low} and {high}", param=name)

    return described(check, _or_null("integer", minimum=low, maximum=high))


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

    return described(check, _or_null("object", additionalProperties=schema_of(value_check)))


described(boolean, _or_null("boolean"))
described(optional_string, _or_null("string"))
described(obj, _or_null("object"))
described(string_list, _or_null("array", items={"type": "string"}))
