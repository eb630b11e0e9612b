"""``/admin/api-keys``: client keys (the keys callers of ``/v1`` present).

A new key is generated here (``sk-proxy-`` + 256 random bits) and returned once, as
``key`` in the creation response; the store keeps only its HMAC under ``SECRET_KEY`` and
a 12-character ``key_prefix`` for display. Later responses show ``key_prefix`` only.

Fields: ``name`` (required), ``tenant`` (string or null), ``is_admin`` (bool), ``rpm_limit``
and ``tpm_limit`` (integers ≥ 0, or null for the global default), ``allowed_models`` (list
of aliases, or null for all), ``expires_at`` (ISO-8601, in the future, or null; a time
without a zone is UTC). Deleting a key revokes it at once on this replica.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..appkeys import GATEWAY, SETTINGS
from ..auth import ClientKey
from ..crypto import client_key_prefix, generate_client_key, hash_client_key
from ..store.base import ApiKeyRow
from .admin_common import (
    admin_route,
    apply_change,
    delete_row,
    fetch_row,
    iso,
    json_response,
    log_change,
)
from .admin_fields import Validator, boolean, integer, parse_body, string_list, text, timestamp
from .openapi import BOOL, DELETED, INT, STR, TIME, body_schema, list_of, obj, route
from .validate import read_json

__all__ = ["setup_routes"]

_SCHEMA: dict[str, Validator] = {
    "name": text(200),
    "tenant": text(200, nullable=True),
    "is_admin": boolean(),
    "rpm_limit": integer(0, nullable=True),
    "tpm_limit": integer(0, nullable=True),
    "allowed_models": string_list(),
    "expires_at": timestamp(future=True),
}
API_KEY = obj(("id", "name", "key_prefix", "is_admin"),
              id=INT, object=STR, name=STR, key_prefix=STR, tenant={"type": ["string", "null"]},
              is_admin=BOOL, rpm_limit={"type": ["integer", "null"]},
              tpm_limit={"type": ["integer", "null"]},
              allowed_models={"type": ["array", "null"], "items": STR},
              expires_at=TIME, created_at=TIME)
_DEFAULTS: dict[str, Any] = {
    "tenant": None,
    "is_admin": False,
    "rpm_limit": None,
    "tpm_limit": None,
    "allowed_models": None,
    "expires_at": None,
}


def api_key_json(row: ApiKeyRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "api_key",
        "name": row.name,
        "key_prefix": row.key_prefix,
        "tenant": row.tenant,
        "is_admin": row.is_admin,
        "rpm_limit": row.rpm_limit,
        "tpm_limit": row.tpm_limit,
        "allowed_models": row.allowed_models,
        "expires_at": iso(row.expires_at),
        "created_at": iso(row.created_at),
    }


@admin_route
async def list_api_keys(request: web.Request, client: ClientKey) -> web.Response:
    rows = await request.app[GATEWAY].store.list_api_keys()
    return json_response({"object": "list", "data": [api_key_json(r) for r in rows]})


@admin_route
async def create_api_key(request: web.Request, client: ClientKey) -> web.Response:
    fields = parse_body(await read_json(request), _SCHEMA, required=("name",),
                        defaults=_DEFAULTS)
    secret_key = request.app[SETTINGS].secret_key
    assert secret_key is not None  # ensured before the app is built
    plaintext = generate_client_key()
    row = await request.app[GATEWAY].store.create_api_key(
        key_hash=hash_client_key(secret_key, plaintext),
        key_prefix=client_key_prefix(plaintext),
        **fields,
    )
    await apply_change(request)
    log_change(client, "client key created", api_key_id=row.id, key_prefix=row.key_prefix,
               tenant=row.tenant, is_admin=row.is_admin)
    return json_response({**api_key_json(row), "key": plaintext}, status=201)


@admin_route
async def get_api_key(request: web.Request, client: ClientKey) -> web.Response:
    row = await fetch_row(request, "api key", request.app[GATEWAY].store.get_api_key)
    return json_response(api_key_json(row))


@admin_route
async def delete_api_key(request: web.Request, client: ClientKey) -> web.Response:
    store = request.app[GATEWAY].store
    return await delete_row(request, client, "api key", store.delete_api_key, "api_key_id")


def setup_routes(app: web.Application) -> None:
    route(app, "GET", "/admin/api-keys", list_api_keys, "List client keys",
          response=list_of(API_KEY))
    route(app, "POST", "/admin/api-keys", create_api_key,
          "Create a client key (its plaintext 'key' is in this answer only)",
          body=body_schema(_SCHEMA, ("name",)),
          response={**API_KEY, "required": [*API_KEY["required"], "key"]}, status=201)
    route(app, "GET", "/admin/api-keys/{id}", get_api_key, "Get a client key",
          response=API_KEY)
    route(app, "DELETE", "/admin/api-keys/{id}", delete_api_key, "Revoke a client key",
          response=DELETED)
