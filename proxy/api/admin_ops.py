"""Operations: ``GET /admin/health``, ``GET /admin/audit``, ``POST /admin/encryption/rotate``.

``/admin/health`` is a report, not a probe (``/readyz`` is the probe): it always answers
200 with ``status`` ``ok`` or ``degraded`` and, per provider, the supervisor's own view
(state, restarts, inbox depth, in-flight calls, circuit, healthy/total keys with masked
keys, last error), plus the database, Redis and payload store, and the config version.

``/admin/audit`` pages through the audit trail by id: pass the returned
``next_after_id`` as ``after_id`` for the next page (it is null on the last page). With
``order=desc`` the newest record comes first and ``after_id`` pages towards older ones.
Filters: ``request_id``, ``api_key_id``, ``tenant``, ``alias`` (what the client asked
for), ``model`` (the upstream model), ``provider``, ``status``, ``session_id``,
``since``/``until``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from supervisors.errors import Conflict, InvalidRequest

from ..appkeys import CACHE, GATEWAY, LIMITS, PAYLOADS, SETTINGS
from ..auth import ClientKey
from ..crypto import DecryptionError
from ..store.base import AuditFilter, AuditRecord
from .admin_common import admin_route, apply_change, iso, json_response, log_change
from .admin_fields import parse_query, query_choice, query_int, query_text, query_time
from .openapi import INT, OBJECT, STR, list_of, obj, route

__all__ = ["setup_routes"]

_CHECK_TIMEOUT = 2.0
_AUDIT_QUERY = {
    "limit": query_int(1, 1000),
    "after_id": query_int(0),
    "tenant": query_text(200),
    "api_key_id": query_int(0),
    "provider": query_text(200),
    "status": query_int(100, 599),
    "since": query_time(),
    "until": query_time(),
    "request_id": query_text(200),
    "alias": query_text(300),
    "model": query_text(300),
    "session_id": query_text(200),
    "order": query_choice("asc", "desc"),
}


async def _database_status(request: web.Request) -> dict[str, Any]:
    store = request.app[GATEWAY].store
    started = time.perf_counter()
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT):
            ok = await store.ping()
    except TimeoutError:
        ok = False
    return {
        "status": "ok" if ok else "error",
        "backend": store.backend,
        "latency_ms": round((time.perf_counter() - started) * 1000.0, 3),
    }


async def _redis_status(request: web.Request) -> dict[str, Any]:
    if not request.app[SETTINGS].redis_url:
        return {"status": "disabled", "backend": "in-process"}
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT):
            ok = await request.app[LIMITS].limiter.ping()
    except (TimeoutError, OSError, ConnectionError):
        ok = False
    return {"status": "ok" if ok else "error", "backend": "redis"}


async def _payload_store_status(request: web.Request) -> dict[str, Any]:
    """The payload store (large audit bodies): local disk or S3, as the app built it.

    Its own ``status()`` (kind, location or bucket, last error) plus a live ``ping``.
    An app without a payload store (none configured) reports the local default.
    """
    payloads = request.app.get(PAYLOADS)
    if payloads is None:
        path = request.app[SETTINGS].data_dir / "payloads"
        return {"status": "ok", "backend": "local", "location": str(path)}
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT):
            ok = await payloads.ping()
    except (TimeoutError, OSError):
        ok = False
    details = {k: v for k, v in payloads.status().items() if k not in ("kind", "ok")}
    return {"status": "ok" if ok else "error", "backend": payloads.kind, **details}


def _provider_health(health: dict[str, Any]) -> dict[str, Any]:
    return {**health, "circuit_state": health["circuit"]["state"]}


@admin_route
async def health(request: web.Request, client: ClientKey) -> web.Response:
    gateway = request.app[GATEWAY]
    providers = [_provider_health(sup.health()) for sup in gateway.root.providers()]
    database, redis, payloads = await asyncio.gather(
        _database_status(request), _redis_status(request), _payload_store_status(request)
    )
    degraded = (
        database["status"] != "ok"
        or redis["status"] == "error"
        or payloads["status"] != "ok"
        or any(p["status"] != "ok" for p in providers)
        or gateway.last_sync_error is not None
    )
    return json_response({
        "status": "degraded" if degraded else "ok",
        "providers": sorted(providers, key=lambda p: p["name"]),
        "database": database,
        "redis": redis,
        "payload_store": payloads,
        "cache": request.app[CACHE].backend.snapshot() if CACHE in request.app else None,
        "config": {"version": gateway.version, "last_sync_error": gateway.last_sync_error},
    })


def audit_json(record: AuditRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "created_at": iso(record.created_at),
        "request_id": record.request_id,
        "endpoint": record.endpoint,
        "status": record.status,
        "latency_ms": record.latency_ms,
        "api_key_id": record.api_key_id,
        "tenant": record.tenant,
        "alias": record.alias,
        "provider": record.provider,
        "upstream_model": record.upstream_model,
        "stream": record.stream,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "total_tokens": record.total_tokens,
        "attempts": record.attempts,
        "fallback_reasons": record.fallback_reasons,
        "error": record.error,
        "request_body": record.request_body,
        "response_body": record.response_body,
        "payload_key": record.payload_key,
        "session_id": record.session_id,
        "cost_usd": record.cost_usd,
    }


@admin_route
async def audit(request: web.Request, client: ClientKey) -> web.Response:
    query = parse_query(request.query, _AUDIT_QUERY)
    limit: int = query.pop("limit", 100)
    after_id: int | None = query.pop("after_id", None)
    query["newest_first"] = query.pop("order", "asc") == "desc"
    if "since" in query and "until" in query and query["since"] >= query["until"]:
        raise InvalidRequest("'since' must be earlier than 'until'", param="since")
    records = await request.app[GATEWAY].store.list_audit(
        limit=limit, after_id=after_id, filters=AuditFilter(**query)
    )
    next_after_id = records[-1].id if len(records) == limit and records else None
    return json_response({
        "object": "list",
        "data": [audit_json(r) for r in records],
        "next_after_id": next_after_id,
    })


@admin_route
async def rotate_encryption(request: web.Request, client: ClientKey) -> web.Response:
    gateway = request.app[GATEWAY]
    try:
        count = await gateway.store.reencrypt_provider_keys(gateway.keyring.rotate)
    except DecryptionError:
        raise Conflict(
            "A stored provider key cannot be decrypted with any configured ENCRYPTION_KEY; "
            "nothing was changed. Add the old key to ENCRYPTION_KEY and retry.",
            code="decryption_failed",
        ) from None
    await apply_change(request)
    log_change(client, "provider keys re-encrypted", reencrypted=count)
    return json_response({"reencrypted": count, "encryption_keys": len(gateway.keyring)})


_HEALTH = obj(("status", "providers"), status={"enum": ["ok", "degraded"]},
              providers={"type": "array", "items": OBJECT}, database=OBJECT, redis=OBJECT,
              payload_store=OBJECT, config=OBJECT)
_AUDIT = list_of(obj(("id", "request_id", "status"), id=INT, request_id=STR, status=INT))
_AUDIT["properties"]["next_after_id"] = {"type": ["integer", "null"]}


def setup_routes(app: web.Application) -> None:
    route(app, "GET", "/admin/health", health, "Providers, database, Redis, payload store",
          response=_HEALTH)
    route(app, "GET", "/admin/audit", audit, "Audit records, filtered and paged",
          query=_AUDIT_QUERY, response=_AUDIT)
    route(app, "POST", "/admin/encryption/rotate", rotate_encryption,
          "Re-encrypt provider keys under the first ENCRYPTION_KEY",
          response=obj(("reencrypted",), reencrypted=INT, encryption_keys=INT))
