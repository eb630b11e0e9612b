"""Validation of admin request bodies and query strings: declarative, one error per field.

A schema maps each accepted field to a validator ``(name, value) -> value`` that returns
the value to store or raises ``InvalidRequest`` with ``param`` set to the field. Unknown
fields are a 400 naming them; so is a missing required field. Nothing here touches the
store: checks that need it (uniqueness, references) happen in the store and are mapped
to 409 / 400 by ``admin_common.admin_route``.

Limits (documented in the admin API module): names and other short texts at most 200
characters, URLs 2048, secrets 4096, model lists 1000 entries; no text may contain
control characters (NUL cannot be stored in PostgreSQL; CR/LF could forge headers).
Integers are 64-bit (the columns are BIGINT).

Every validator made here carries the JSON Schema of what it accepts (``schema_of``), so
the OpenAPI document (``proxy.api.openapi``) is derived from the very tables that check
requests. A hand-written validator states its schema with ``described(check, schema)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from supervisors.errors import InvalidRequest

__all__ = [
    "MAX_ID",
    "Field",
    "Validator",
    "boolean",
    "choice",
    "described",
    "integer",
    "json_object",
    "number",
    "object_schema",
    "parse_body",
    "parse_datetime",
    "parse_query",
    "pattern",
    "query_choice",
    "query_int",
    "query_text",
    "query_time",
    "schema_of",
    "string_list",
    "text",
    "timestamp",
]

Validator = Callable[[str, Any], Any]

MAX_ID = 2**63 - 1
_INT = re.compile(r"-?[0-9]{1,19}")


class Field:
    """A validator (or query parser) together with the JSON Schema of what it accepts."""

    __slots__ = ("check", "schema")

    def __init__(self, check: Callable[[str, Any], Any], schema: dict[str, Any]) -> None:
        self.check = check
        self.schema = schema

    def __call__(self, name: str, value: Any) -> Any:
        return self.check(name, value)


def described(check: Callable[[str, Any], Any], schema: dict[str, Any]) -> Field:
    """``check`` with its JSON Schema, for validators written by hand."""
    return Field(check, schema)


def schema_of(check: object) -> dict[str, Any]:
    """The JSON Schema a validator carries (``{}``, anything, when it has none)."""
    schema = getattr(check, "schema", None)
    return dict(schema) if isinstance(schema, dict) else {}


def object_schema(
    table: Mapping[str, object], required: Collection[str] = (), *, closed: bool = True
) -> dict[str, Any]:
    """The JSON Schema of an object whose fields ``table`` validates."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: schema_of(check) for name, check in table.items()},
    }
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def _nullable(schema: dict[str, Any], nullable: bool) -> dict[str, Any]:
    if not nullable:
        return schema
    kind = schema["type"]
    return {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}


def _has_control(value: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in value)


def text(max_len: int = 200, *, nullable: bool = False, allow_empty: bool = False) -> Validator:
    def check(name: str, value: Any) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise InvalidRequest(f"'{name}' must be a string", param=name)
        if not allow_empty and not value.strip():
            raise InvalidRequest(f"'{name}' must not be empty", param=name)
        if len(value) > max_len:
            raise InvalidRequest(f"'{name}' must be at most {max_len} characters", param=name)
        if _has_control(value):
            raise InvalidRequest(f"'{name}' must not contain control characters", param=name)
        return value

    schema: dict[str, Any] = {"type": "string", "maxLength": max_len,
                              "pattern": r"^[^\x00-\x1f\x7f]*$"}
    if not allow_empty:
        schema["pattern"] = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
    return Field(check, _nullable(schema, nullable))


def pattern(regex: str, description: str) -> Validator:
    """A string matching ``regex`` in full (``description`` says what is allowed)."""
    compiled = re.compile(regex)

    def check(name: str, value: Any) -> Any:
        if not isinstance(value, str):
            raise InvalidRequest(f"'{name}' must be a string", param=name)
        if not compiled.fullmatch(value):
            raise InvalidRequest(f"'{name}' must be {description}", param=name)
        return value

    return Field(check, {"type": "string", "pattern": f"^(?:{regex})$",
                         "description": description})


def integer(minimum: int = 0, maximum: int = MAX_ID, *, nullable: bool = False) -> Validator:
    def check(name: str, value: Any) -> Any:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            what = "an integer or null" if nullable else "an integer"
            raise InvalidRequest(f"'{name}' must be {what}", param=name)
        if not minimum <= value <= maximum:
            raise InvalidRequest(
                f"'{name}' must be between {minimum} and {maximum}", param=name
            )
        return value

    return Field(check, _nullable(
        {"type": "integer", "minimum": minimum, "maximum": maximum}, nullable))


def number(minimum: float = 0.0, maximum: float | None = None, *,
           exclusive_minimum: bool = False, nullable: bool = False) -> Validator:
    """A JSON number (integers included, booleans not)."""

    def check(name: str, value: Any) -> Any:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRequest(f"'{name}' must be a number", param=name)
        low_ok = value > minimum if exclusive_minimum else value >= minimum
        if not low_ok or (maximum is not None and value > maximum):
            bound = f"> {minimum}" if exclusive_minimum else f">= {minimum}"
            upper = f" and <= {maximum}" if maximum is not None else ""
            raise InvalidRequest(f"'{name}' must be {bound}{upper}", param=name)
        return value

    schema: dict[str, Any] = {"type": "number"}
    schema["exclusiveMinimum" if exclusive_minimum else "minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return Field(check, _nullable(schema, nullable))


def choice(*values: str) -> Validator:
    """One of ``values``."""

    def check(name: str, value: Any) -> Any:
        if value not in values:
            raise InvalidRequest(f"'{name}' must be one of: {', '.join(values)}", param=name)
        return value

    return Field(check, {"enum": list(values)})


def boolean() -> Validator:
    def check(name: str, value: Any) -> Any:
        if not isinstance(value, bool):
            raise InvalidRequest(f"'{name}' must be a boolean", param=name)
        return value

    return Field(check, {"type": "boolean"})


def json_object() -> Validator:
    def check(name: str, value: Any) -> Any:
        if not isinstance(value, dict):
            raise InvalidRequest(f"'{name}' must be an object", param=name)
        return value

    return Field(check, {"type": "object"})


def string_list(max_items: int = 1000, max_len: int = 200) -> Validator:
    """A list of non-empty strings, or null (meaning: no restriction)."""
    item = text(max_len)

    def check(name: str, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            raise InvalidRequest(f"'{name}' must be a list of strings or null", param=name)
        if len(value) > max_items:
            raise InvalidRequest(f"'{name}' must have at most {max_items} entries", param=name)
        for entry in value:
            item(name, entry)
        return list(dict.fromkeys(value))

    return Field(check, {"type": ["array", "null"], "items": schema_of(item),
                         "maxItems": max_items})


def parse_datetime(name: str, raw: str) -> datetime:
    """ISO-8601; a value without a time zone is taken as UTC. Returns aware UTC."""
    if len(raw) > 64:
        raise InvalidRequest(f"'{name}' must be an ISO-8601 timestamp", param=name)
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidRequest(
            f"'{name}' must be an ISO-8601 timestamp such as 2030-01-31T12:00:00Z", param=name
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidRequest(f"'{name}' is out of range", param=name) from None


def timestamp(*, future: bool = False) -> Validator:
    """An ISO-8601 string or null; with ``future``, it must lie ahead of now."""

    def check(name: str, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidRequest(f"'{name}' must be an ISO-8601 string or null", param=name)
        parsed = parse_datetime(name, value)
        if future and parsed <= datetime.now(UTC):
            raise InvalidRequest(f"'{name}' must be in the future", param=name)
        return parsed

    return Field(check, {"type": ["string", "null"], "format": "date-time", "maxLength": 64})


def _reject_unknown(given: Collection[str], schema: Mapping[str, object], where: str) -> None:
    unknown = [name for name in given if name not in schema]
    if unknown:
        names = ", ".join(f"'{n}'" for n in sorted(unknown)[:10])
        raise InvalidRequest(
            f"Unknown {where}: {names}. Accepted: {', '.join(sorted(schema))}.",
            param=sorted(unknown)[0],
            code="unknown_parameter",
        )


def parse_body(
    body: Mapping[str, Any],
    schema: Mapping[str, Validator],
    *,
    required: Collection[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The validated fields present in ``body`` (plus ``defaults`` for absent ones)."""
    _reject_unknown(body.keys(), schema, "field(s)")
    for name in required:
        if name not in body:
            raise InvalidRequest(f"Missing required field '{name}'", param=name,
                                 code="missing_required_parameter")
    out = {name: schema[name](name, value) for name, value in body.items()}
    for name, value in (defaults or {}).items():
        out.setdefault(name, value)
    return out


QueryParser = Callable[[str, str], Any]


def query_text(max_len: int = 200) -> QueryParser:
    check = text(max_len)
    return Field(check, schema_of(check))


def query_int(minimum: int = 0, maximum: int = MAX_ID) -> QueryParser:
    def parse(name: str, raw: str) -> int:
        raw = raw.strip()
        if not _INT.fullmatch(raw):
            raise InvalidRequest(f"'{name}' must be an integer", param=name)
        value = int(raw)
        if not minimum <= value <= maximum:
            raise InvalidRequest(f"'{name}' must be between {minimum} and {maximum}", param=name)
        return value

    return Field(parse, {"type": "integer", "minimum": minimum, "maximum": maximum})


def query_choice(*choices: str) -> QueryParser:
    def parse(name: str, raw: str) -> str:
        if raw not in choices:
            raise InvalidRequest(f"'{name}' must be one of {', '.join(choices)}", param=name)
        return raw

    return Field(parse, {"type": "string", "enum": list(choices)})


def query_time() -> QueryParser:
    return Field(parse_datetime, {"type": "string", "format": "date-time", "maxLength": 64})


def parse_query(query: Mapping[str, str], schema: Mapping[str, QueryParser]) -> dict[str, Any]:
    """Validated query parameters (unknown ones are a 400; each may appear once)."""
    _reject_unknown(query.keys(), schema, "query parameter(s)")
    getall = getattr(query, "getall", None)
    out: dict[str, Any] = {}
    for name in query:
        if name in out:
            continue
        if getall is not None and len(getall(name)) > 1:
            raise InvalidRequest(f"'{name}' may be given only once", param=name)
        out[name] = schema[name](name, query[name])
    return out
