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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from supervisors.errors import InvalidRequest

__all__ = [
    "MAX_ID",
    "Validator",
    "boolean",
    "integer",
    "json_object",
    "parse_body",
    "parse_datetime",
    "parse_query",
    "pattern",
    "query_choice",
    "query_int",
    "query_text",
    "query_time",
    "string_list",
    "text",
    "timestamp",
]

Validator = Callable[[str, Any], Any]

MAX_ID = 2**63 - 1
_INT = re.compile(r"-?[0-9]{1,19}")


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

    return check


def pattern(regex: str, description: str) -> Validator:
    """A string matching ``regex`` in full (``description`` says what is allowed)."""
    compiled = re.compile(regex)

    def check(name: str, value: Any) -> Any:
        if not isinstance(value, str):
            raise InvalidRequest(f"'{name}' must be a string", param=name)
        if not compiled.fullmatch(value):
            raise InvalidRequest(f"'{name}' must be {description}", param=name)
        return value

    return check


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

    return check


def boolean() -> Validator:
    def check(name: str, value: Any) -> Any:
        if not isinstance(value, bool):
            raise InvalidRequest(f"'{name}' must be a boolean", param=name)
        return value

    return check


def json_object() -> Validator:
    def check(name: str, value: Any) -> Any:
        if not isinstance(value, dict):
            raise InvalidRequest(f"'{name}' must be an object", param=name)
        return value

    return check


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

    return check


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

    return check


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
    return lambda name, raw: check(name, raw)


def query_int(minimum: int = 0, maximum: int = MAX_ID) -> QueryParser:
    def parse(name: str, raw: str) -> int:
        raw = raw.strip()
        if not _INT.fullmatch(raw):
            raise InvalidRequest(f"'{name}' must be an integer", param=name)
        value = int(raw)
        if not minimum <= value <= maximum:
            raise InvalidRequest(f"'{name}' must be between {minimum} and {maximum}", param=name)
        return value

    return parse


def query_choice(*choices: str) -> QueryParser:
    def parse(name: str, raw: str) -> str:
        if raw not in choices:
            raise InvalidRequest(f"'{name}' must be one of {', '.join(choices)}", param=name)
        return raw

    return parse


def query_time() -> QueryParser:
    return parse_datetime


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
