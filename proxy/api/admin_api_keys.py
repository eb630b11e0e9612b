"""``/admin/api-keys``: client keys (the keys callers of ``/v1`` present).

A new key is generated here (``sk-proxy-`` + 256 random bits) and returned once, as
``key`` in the creation response; the store keeps only its HMAC under ``SECRET_KEY`` and
a 12-character ``key_prefix`` for display. Later responses show ``key_prefix`` only.

Fields: ``name`` (required), ``tenant`` (string or null), ``is_admin`` (bool), ``rpm_limit``
and ``tpm_limit`` (integers ≥ 0, or null for the global default), ``allowed_models`` (list
of aliases, or null for all), ``expires_at`` (ISO-8601, in the future, or null; a time
without a zone is UTC), ``budget_usd`` (a number ≥ 0, or null for no budget),
``budget_period`` (``day`` | ``month`` | ``total``, default ``month``; calendar UTC) and
``enabled`` (false: the key gets 401 until enabled again). ``PATCH`` changes the fields it
names. Reads add ``spend_usd``: what the key spent in its current budget period. Deleting
a key revokes it at once on this replica.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ..appkeys import GATEWAY, SETTINGS, SPEND
from ..auth import ClientKey
from ..crypto import client_key_prefix, generate_client_key, hash_client_key
from ..spend.cost import nanos_to_usd
from ..spend.periods import PERIODS
from ..store.base import ApiKeyRow
from .admin_common import (
    admin_route,
    apply_change,
    delete_row,
    fetch_row,
    iso,
    json_response,
    log_change,
    update_row,
)
from .admin_fields import (
    Validator,
    boolean,
    choice,
    integer,
    number,
    parse_body,
    string_list,
    text,
    timestamp,
)
from .openapi import BOOL, DELETED, INT, STR, TIME, body_schema, list_of, obj, route
from .validate import read_json

__all__ = ["API_KEY_DEFAULTS", "API_KEY_POLICY", "api_key_json", "check_api_key", "setup_routes"]

_SCHEMA: dict[str, Validator] = {
    "name": text(200),
    "tenant": text(200, nullable=True),
    "is_admin": boolean(),
    "rpm_limit": integer(0, nullable=True),
    "tpm_limit": integer(0, nullable=True),
    "allowed_models": string_list(),
    "expires_at": timestamp(future=True),
    "budget_usd": number(0, 1e9, nullable=True),
    "budget_period": choice(*PERIODS),
    "enabled": boolean(),
}
API_KEY = obj(("id", "name", "key_prefix", "is_admin"),
              id=INT, object=STR, name=STR, key_prefix=STR, tenant={"type": ["string", "null"]},
              is_admin=BOOL, rpm_limit={"type": ["integer", "null"]},
              tpm_limit={"type": ["integer", "null"]},
              allowed_models={"type": ["array", "null"], "items": STR},
              expires_at=TIME, budget_usd={"type": ["number", "null"]},
              budget_period={"enum": list(PERIODS)}, enabled=BOOL, spend_usd={"type": "number"},
              created_at=TIME, updated_at=TIME)
#: the fields of a client key's policy (what ``openai-proxy apply`` manages by name)
API_KEY_POLICY: tuple[str, ...] = tuple(_SCHEMA)
API_KEY_DEFAULTS: dict[str, Any]
_DEFAULTS: dict[str, Any] = {
    "tenant": None,
    "is_admin": False,
    "rpm_limit": None,
    "tpm_limit": None,
    "allowed_models": None,
    "expires_at": None,
    "budget_usd": None,
    "budget_period": "month",
    "enabled": True,
}
API_KEY_DEFAULTS = _DEFAULTS


def check_api_key(body: Mapping[str, Any]) -> dict[str, Any]:
    """A new client key's policy as ``POST /admin/api-keys`` accepts it (else a 400 naming
    the field); ``openai-proxy apply`` checks with it too."""
    return parse_body(body, _SCHEMA, required=("name",), defaults=_DEFAULTS)


def api_key_json(row: ApiKeyRow, spend_nanos: int = 0) -> dict[str, Any]:
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
        "budget_usd": row.budget_usd,
        "budget_period": row.budget_period,
        "enabled": row.enabled,
        "spend_usd": nanos_to_usd(spend_nanos),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


async def _with_spend(request: web.Request, rows: list[ApiKeyRow]) -> list[dict[str, Any]]:
    spent = await request.app[SPEND].spend_of(
        "key", [str(r.id) for r in rows], {str(r.id): r.budget_period for r in rows})
    return [api_key_json(r, spent.get(str(r.id), 0)) for r in rows]


@admin_route
async def list_api_keys(request: web.Request, client: ClientKey) -> web.Response:
    rows = await request.app[GATEWAY].store.list_api_keys()
    return json_response({"object": "list", "data": await _with_spend(request, rows)})


@admin_route
async def create_api_key(request: web.Request, client: ClientKey) -> web.Response:
    fields = check_api_key(await read_json(request))
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
    return json_response((await _with_spend(request, [row]))[0])


@admin_route
async def update_api_key(request: web.Request, client: ClientKey) -> web.Response:
    fields = parse_body(await read_json(request), _SCHEMA)
    row = await update_row(request, client, "api key", fields,
                           request.app[GATEWAY].store.update_api_key, "api_key_id",
                           label="client key")
    return json_response((await _with_spend(request, [row]))[0])


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
    route(app, "PATCH", "/admin/api-keys/{id}", update_api_key,
          "Change a client key's name, tenant, limits, budget, models, expiry or enabling",
          body=body_schema(_SCHEMA), response=API_KEY)
    route(app, "DELETE", "/admin/api-keys/{id}", delete_api_key, "Revoke a client key",
          response=DELETED)
