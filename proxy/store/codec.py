"""Row encoding shared by both backends: timestamps, JSON columns, row → dataclass.

Both drivers return mapping-like rows (``asyncpg.Record``, ``sqlite3.Row``). SQLite keeps
timestamps as fixed-width ISO-8601 UTC text (so text order is time order) and booleans
as 0/1; PostgreSQL uses ``timestamptz`` and ``boolean``. The converters below accept
either form and always return tz-aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from proxy.store.base import (
    ApiKeyRow,
    AuditFilter,
    AuditRecord,
    MappingRow,
    ProviderKeyRow,
    ProviderRow,
    TenantRow,
)

__all__ = [
    "API_KEY_FIELDS",
    "AUDIT_COLUMNS",
    "TENANT_FIELDS",
    "KEY_FIELDS",
    "MAPPING_FIELDS",
    "PROVIDER_FIELDS",
    "api_key_from_row",
    "audit_from_row",
    "audit_values",
    "audit_where",
    "check_fields",
    "dump_json",
    "encode_field",
    "key_from_row",
    "load_json",
    "mapping_from_row",
    "provider_from_row",
    "storable",
    "tenant_from_row",
    "ts_text",
    "utc",
    "utc_now",
]

Row = Mapping[str, Any]

PROVIDER_FIELDS = frozenset(
    {"name", "provider_type", "base_url", "config", "enabled", "headers_encrypted"}
)
KEY_FIELDS = frozenset({"name", "key_encrypted", "key_last4", "healthy"})
MAPPING_FIELDS = frozenset(
    {"alias_name", "provider_id", "provider_model_name", "order_index", "is_default", "config"}
)
API_KEY_FIELDS = frozenset(
    {"name", "tenant", "is_admin", "rpm_limit", "tpm_limit", "allowed_models", "expires_at",
     "budget_usd", "budget_period", "enabled"}
)
TENANT_FIELDS = frozenset({"name", "rpm_limit", "tpm_limit", "budget_usd", "budget_period"})
JSON_FIELDS = frozenset({"config", "allowed_models", "fallback_reasons"})
BOOL_FIELDS = frozenset({"enabled", "healthy", "is_default", "is_admin", "stream"})

AUDIT_COLUMNS: tuple[str, ...] = (
    "created_at",
    "request_id",
    "endpoint",
    "status",
    "latency_ms",
    "api_key_id",
    "tenant",
    "alias",
    "provider",
    "upstream_model",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "attempts",
    "fallback_reasons",
    "error",
    "request_body",
    "response_body",
    "payload_key",
    "session_id",
    "cost_usd",
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def ts_text(value: datetime) -> str:
    """Fixed-width text form for SQLite: ``2024-05-01T12:00:00.000000+00:00``."""
    if value.tzinfo is not UTC:
        value = utc(value)
    return value.isoformat(timespec="microseconds")


def _ts(value: Any) -> datetime:
    if isinstance(value, datetime):
        return utc(value)
    return utc(datetime.fromisoformat(str(value)))


def _ts_or_none(value: Any) -> datetime | None:
    return None if value is None else _ts(value)


def dump_json(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


def load_json(value: Any) -> Any:
    return None if value is None else orjson.loads(value)


def check_fields(fields: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise TypeError(f"cannot update {what} field(s): {', '.join(unknown)}")


def provider_from_row(row: Row) -> ProviderRow:
    return ProviderRow(
        id=int(row["id"]),
        name=row["name"],
        provider_type=row["provider_type"],
        base_url=row["base_url"],
        config=load_json(row["config"]) or {},
        enabled=bool(row["enabled"]),
        created_at=_ts(row["created_at"]),
        updated_at=_ts(row["updated_at"]),
        headers_encrypted=row["headers_encrypted"],
    )


def key_from_row(row: Row) -> ProviderKeyRow:
    return ProviderKeyRow(
        id=int(row["id"]),
        provider_id=int(row["provider_id"]),
        name=row["name"],
        key_encrypted=row["key_encrypted"],
        key_last4=row["key_last4"],
        healthy=bool(row["healthy"]),
        created_at=_ts(row["created_at"]),
        updated_at=_ts(row["updated_at"]),
    )


def mapping_from_row(row: Row) -> MappingRow:
    return MappingRow(
        id=int(row["id"]),
        alias_name=row["alias_name"],
        provider_id=int(row["provider_id"]),
        provider_model_name=row["provider_model_name"],
        order_index=int(row["order_index"]),
        is_default=bool(row["is_default"]),
        config=load_json(row["config"]) or {},
        created_at=_ts(row["created_at"]),
        updated_at=_ts(row["updated_at"]),
    )


def api_key_from_row(row: Row) -> ApiKeyRow:
    return ApiKeyRow(
        id=int(row["id"]),
        name=row["name"],
        key_hash=row["key_hash"],
        key_prefix=row["key_prefix"],
        tenant=row["tenant"],
        is_admin=bool(row["is_admin"]),
        rpm_limit=row["rpm_limit"],
        tpm_limit=row["tpm_limit"],
        allowed_models=load_json(row["allowed_models"]),
        expires_at=_ts_or_none(row["expires_at"]),
        created_at=_ts(row["created_at"]),
        budget_usd=_float_or_none(row["budget_usd"]),
        budget_period=row["budget_period"] or "month",
        enabled=bool(row["enabled"]),
        updated_at=_ts_or_none(row["updated_at"]),
    )


def tenant_from_row(row: Row) -> TenantRow:
    return TenantRow(
        id=int(row["id"]),
        name=row["name"],
        rpm_limit=row["rpm_limit"],
        tpm_limit=row["tpm_limit"],
        budget_usd=_float_or_none(row["budget_usd"]),
        budget_period=row["budget_period"] or "month",
        created_at=_ts(row["created_at"]),
        updated_at=_ts(row["updated_at"]),
    )


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def audit_from_row(row: Row) -> AuditRecord:
    return AuditRecord(
        id=int(row["id"]),
        created_at=_ts(row["created_at"]),
        request_id=row["request_id"],
        endpoint=row["endpoint"],
        status=int(row["status"]),
        latency_ms=float(row["latency_ms"]),
        api_key_id=row["api_key_id"],
        tenant=row["tenant"],
        alias=row["alias"],
        provider=row["provider"],
        upstream_model=row["upstream_model"],
        stream=bool(row["stream"]),
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        total_tokens=row["total_tokens"],
        attempts=int(row["attempts"]),
        fallback_reasons=load_json(row["fallback_reasons"]) or [],
        error=row["error"],
        request_body=row["request_body"],
        response_body=row["response_body"],
        payload_key=row["payload_key"],
        session_id=row["session_id"],
        cost_usd=_float_or_none(row["cost_usd"]),
    )


def audit_values(record: AuditRecord, ts: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """The record's values in ``AUDIT_COLUMNS`` order; ``ts`` encodes timestamps. Text
    fields hold client input (model names, bodies): a NUL in them is replaced, so that one
    record never makes the database refuse a whole batch."""
    values = (
        ts(record.created_at),
        record.request_id,
        record.endpoint,
        int(record.status),
        float(record.latency_ms),
        record.api_key_id,
        record.tenant,
        record.alias,
        record.provider,
        record.upstream_model,
        bool(record.stream),
        record.prompt_tokens,
        record.completion_tokens,
        record.total_tokens,
        int(record.attempts),
        dump_json(list(record.fallback_reasons)) if record.fallback_reasons else "[]",
        record.error,
        record.request_body,
        record.response_body,
        record.payload_key,
        record.session_id,
        record.cost_usd,
    )
    for v in values:
        if type(v) is str and ("\x00" in v or not v.isascii()) and _unstorable(v):
            return tuple(_storable(v) for v in values)
    return values


def _unstorable(text: str) -> bool:
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (undecodable header bytes)
        return True
    return False


def storable(value: Any) -> Any:
    """``value`` as both databases can store it (text: see ``_storable``)."""
    return _storable(value)


def _storable(value: Any) -> Any:
    """Text both databases can store: NUL (which PostgreSQL refuses in ``text``) becomes
    U+FFFD, a lone surrogate (not UTF-8) becomes ``?``."""
    if type(value) is not str or not _unstorable(value):
        return value
    value = value.replace("\x00", "\ufffd")
    if value.isascii():
        return value
    return value.encode("utf-8", "replace").decode("utf-8")  # a surrogate becomes "?"


def audit_where(
    filters: AuditFilter, after_id: int | None, ts: Callable[[datetime], Any]
) -> tuple[str, list[Any]]:
    """`` WHERE …`` (``?`` placeholders) and its parameters; empty when nothing filters."""
    clauses: list[str] = []
    params: list[Any] = []
    for sql, value in (
        ("id < ?" if filters.newest_first else "id > ?", after_id),
        ("request_id = ?", filters.request_id),
        ("alias = ?", filters.alias),
        ("upstream_model = ?", filters.model),
        ("session_id = ?", filters.session_id),
        ("tenant = ?", filters.tenant),
        ("api_key_id = ?", filters.api_key_id),
        ("provider = ?", filters.provider),
        ("status = ?", filters.status),
        ("created_at >= ?", None if filters.since is None else ts(filters.since)),
        ("created_at < ?", None if filters.until is None else ts(filters.until)),
    ):
        if value is not None:
            clauses.append(sql)
            params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def encode_field(name: str, value: Any) -> Any:
    """A column value for an ``UPDATE`` from a caller-supplied field."""
    if name in JSON_FIELDS:
        return dump_json(value)
    if name in BOOL_FIELDS:
        return bool(value)
    return value
