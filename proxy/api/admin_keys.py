"""``/admin/keys``: provider (upstream) API keys.

``key`` is write-only: it is encrypted with the gateway's key ring before it reaches the
store and never returned. Responses show ``key_masked`` (``****`` + last 4 characters;
just ``****`` for keys shorter than 8) and ``healthy``: the live health from the
provider's key pool while the provider runs (``health_source: "live"``, with the pool's
``last_error`` and ``cooling_for``), else the stored flag (``health_source: "stored"``).
``POST /admin/keys/{id}/rotate`` with ``{"key"}`` replaces the secret; the key is
healthy again at once.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from supervisors.errors import InvalidRequest
from supervisors.masking import MASK, mask_secret

from ..appkeys import GATEWAY
from ..auth import ClientKey
from ..state import Gateway
from ..store.base import ProviderKeyRow
from .admin_common import (
    admin_route,
    apply_change,
    delete_row,
    fetch_row,
    iso,
    json_response,
    log_change,
    not_found,
    path_id,
)
from .admin_fields import (
    Validator,
    described,
    integer,
    parse_body,
    parse_query,
    query_int,
    schema_of,
    text,
)
from .openapi import BOOL, DELETED, INT, STR, TIME, body_schema, list_of, obj, route
from .validate import read_json

__all__ = ["setup_routes"]

_secret_text = text(4096)


def _secret(name: str, value: Any) -> Any:
    _secret_text(name, value)
    if value != value.strip():
        raise InvalidRequest(f"'{name}' must not start or end with whitespace", param=name)
    return value


_KEY = described(_secret, {**schema_of(_secret_text), "writeOnly": True})
_SCHEMA: dict[str, Validator] = {"provider_id": integer(1), "name": text(200), "key": _KEY}
_REQUIRED = ("provider_id", "name", "key")
_ROTATE: dict[str, Validator] = {"key": _KEY}
_QUERY = {"provider_id": query_int(1)}
PROVIDER_KEY = obj(("id", "provider_id", "name", "key_masked", "healthy"),
                   id=INT, object=STR, provider_id=INT, name=STR, key_masked=STR,
                   healthy=BOOL, health_source=STR, last_error={}, cooling_for={"type": "number"},
                   created_at=TIME, updated_at=TIME)


def _revealed(secret: str) -> str:
    """What ``mask_secret`` shows of ``secret`` (its last 4, or nothing for short keys);
    stored as ``key_last4`` so that nothing more of a short key is kept in clear."""
    return mask_secret(secret)[len(MASK):]


def _live(gateway: Gateway) -> dict[Any, dict[str, Any]]:
    """Each running provider's key pool, by key id."""
    return {
        entry["id"]: entry
        for sup in gateway.root.providers()
        for entry in sup.pool.snapshot()
    }


def key_json(row: ProviderKeyRow, live: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    pool = live.get(row.id)
    stored_mask = MASK + row.key_last4 if len(row.key_last4) == 4 else MASK
    return {
        "id": row.id,
        "object": "provider_key",
        "provider_id": row.provider_id,
        "name": row.name,
        "key_masked": pool["key_masked"] if pool else stored_mask,
        "healthy": bool(pool["healthy"]) if pool else row.healthy,
        "health_source": "live" if pool else "stored",
        "last_error": pool["last_error"] if pool else None,
        "cooling_for": pool["cooling_for"] if pool else 0.0,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


@admin_route
async def list_keys(request: web.Request, client: ClientKey) -> web.Response:
    query = parse_query(request.query, _QUERY)
    gateway = request.app[GATEWAY]
    rows = await gateway.store.list_provider_keys(query.get("provider_id"))
    live = _live(gateway)
    return json_response({"object": "list", "data": [key_json(r, live) for r in rows]})


@admin_route
async def create_key(request: web.Request, client: ClientKey) -> web.Response:
    fields = parse_body(await read_json(request), _SCHEMA, required=_REQUIRED)
    gateway = request.app[GATEWAY]
    secret: str = fields["key"]
    row = await gateway.store.create_provider_key(
        provider_id=fields["provider_id"],
        name=fields["name"],
        key_encrypted=gateway.keyring.encrypt(secret),
        key_last4=_revealed(secret),
    )
    await apply_change(request)
    log_change(client, "provider key created", key_id=row.id, provider_id=row.provider_id,
               key_masked=mask_secret(secret))
    return json_response(key_json(row, _live(gateway)), status=201)


@admin_route
async def get_key(request: web.Request, client: ClientKey) -> web.Response:
    gateway = request.app[GATEWAY]
    row = await fetch_row(request, "provider key", gateway.store.get_provider_key)
    return json_response(key_json(row, _live(gateway)))


@admin_route
async def rotate_key(request: web.Request, client: ClientKey) -> web.Response:
    key_id = path_id(request, "provider key")
    fields = parse_body(await read_json(request), _ROTATE, required=("key",))
    gateway = request.app[GATEWAY]
    secret: str = fields["key"]
    row = await gateway.store.update_provider_key(
        key_id,
        key_encrypted=gateway.keyring.encrypt(secret),
        key_last4=_revealed(secret),
        healthy=True,
    )
    if row is None:
        raise not_found("provider key", key_id)
    await apply_change(request)
    log_change(client, "provider key rotated", key_id=row.id, provider_id=row.provider_id,
               key_masked=mask_secret(secret))
    return json_response(key_json(row, _live(gateway)))


@admin_route
async def delete_key(request: web.Request, client: ClientKey) -> web.Response:
    store = request.app[GATEWAY].store
    return await delete_row(request, client, "provider key", store.delete_provider_key,
                            "key_id")


def setup_routes(app: web.Application) -> None:
    route(app, "GET", "/admin/keys", list_keys, "List provider keys", query=_QUERY,
          response=list_of(PROVIDER_KEY))
    route(app, "POST", "/admin/keys", create_key, "Add a provider key (stored encrypted)",
          body=body_schema(_SCHEMA, _REQUIRED), response=PROVIDER_KEY, status=201)
    route(app, "GET", "/admin/keys/{id}", get_key, "Get a provider key (masked)",
          response=PROVIDER_KEY)
    route(app, "DELETE", "/admin/keys/{id}", delete_key, "Delete a provider key",
          response=DELETED)
    route(app, "POST", "/admin/keys/{id}/rotate", rotate_key, "Replace a provider key's secret",
          body=body_schema(_ROTATE, ("key",)), response=PROVIDER_KEY)
