"""``/admin/tenants``: tenants, the groups client keys name in their ``tenant`` field.

Fields: ``name`` (required, unique: 409 on a clash; client keys refer to it by name),
``rpm_limit`` and ``tpm_limit`` (integers ≥ 0, or null: ``RATE_LIMIT_PER_TENANT_RPM``
applies, and no token limit), ``budget_usd`` (a number ≥ 0, or null for no budget) and
``budget_period`` (``day`` | ``month`` | ``total``, default ``month``; calendar UTC). The
budget and limits are shared by all the tenant's keys, on top of each key's own. Reads add
``spend_usd``: what the tenant's keys spent in the current budget period. Renaming a
tenant does not rename it in client keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ..appkeys import GATEWAY, SPEND
from ..auth import ClientKey
from ..spend.cost import nanos_to_usd
from ..spend.periods import PERIODS
from ..store.base import TenantRow
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
from .admin_fields import Validator, choice, integer, number, parse_body, text
from .openapi import DELETED, INT, STR, TIME, body_schema, list_of, obj, route
from .validate import read_json

__all__ = ["TENANT_DEFAULTS", "TENANT_POLICY", "check_tenant", "setup_routes"]

_SCHEMA: dict[str, Validator] = {
    "name": text(200),
    "rpm_limit": integer(0, nullable=True),
    "tpm_limit": integer(0, nullable=True),
    "budget_usd": number(0, 1e9, nullable=True),
    "budget_period": choice(*PERIODS),
}
_DEFAULTS: dict[str, Any] = {
    "rpm_limit": None,
    "tpm_limit": None,
    "budget_usd": None,
    "budget_period": "month",
}
#: a tenant's fields as ``openai-proxy apply`` manages them by name (defaults omitted
#: by ``export``)
TENANT_POLICY: tuple[str, ...] = tuple(_SCHEMA)
TENANT_DEFAULTS = _DEFAULTS


def check_tenant(body: Mapping[str, Any]) -> dict[str, Any]:
    """A new tenant as ``POST /admin/tenants`` accepts it (else a 400 naming the field)."""
    return parse_body(body, _SCHEMA, required=("name",), defaults=_DEFAULTS)


def tenant_json(row: TenantRow, spend_nanos: int) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "tenant",
        "name": row.name,
        "rpm_limit": row.rpm_limit,
        "tpm_limit": row.tpm_limit,
        "budget_usd": row.budget_usd,
        "budget_period": row.budget_period,
        "spend_usd": nanos_to_usd(spend_nanos),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


async def _with_spend(request: web.Request, rows: list[TenantRow]) -> list[dict[str, Any]]:
    spent = await request.app[SPEND].spend_of(
        "tenant", [r.name for r in rows], {r.name: r.budget_period for r in rows})
    return [tenant_json(r, spent.get(r.name, 0)) for r in rows]


@admin_route
async def list_tenants(request: web.Request, client: ClientKey) -> web.Response:
    rows = await request.app[GATEWAY].store.list_tenants()
    return json_response({"object": "list", "data": await _with_spend(request, rows)})


@admin_route
async def create_tenant(request: web.Request, client: ClientKey) -> web.Response:
    fields = check_tenant(await read_json(request))
    row = await request.app[GATEWAY].store.create_tenant(**fields)
    await apply_change(request)
    log_change(client, "tenant created", tenant_id=row.id, tenant=row.name)
    return json_response((await _with_spend(request, [row]))[0], status=201)


@admin_route
async def get_tenant(request: web.Request, client: ClientKey) -> web.Response:
    row = await fetch_row(request, "tenant", request.app[GATEWAY].store.get_tenant)
    return json_response((await _with_spend(request, [row]))[0])


@admin_route
async def update_tenant(request: web.Request, client: ClientKey) -> web.Response:
    fields = parse_body(await read_json(request), _SCHEMA)
    row = await update_row(request, client, "tenant", fields,
                           request.app[GATEWAY].store.update_tenant, "tenant_id")
    return json_response((await _with_spend(request, [row]))[0])


@admin_route
async def delete_tenant(request: web.Request, client: ClientKey) -> web.Response:
    store = request.app[GATEWAY].store
    return await delete_row(request, client, "tenant", store.delete_tenant, "tenant_id")


_NULL_INT = {"type": ["integer", "null"]}
TENANT = obj(("id", "name", "budget_period", "spend_usd"),
             id=INT, object=STR, name=STR, rpm_limit=_NULL_INT, tpm_limit=_NULL_INT,
             budget_usd={"type": ["number", "null"]}, budget_period={"enum": list(PERIODS)},
             spend_usd={"type": "number"}, created_at=TIME, updated_at=TIME)


def setup_routes(app: web.Application) -> None:
    route(app, "GET", "/admin/tenants", list_tenants, "List tenants", response=list_of(TENANT))
    route(app, "POST", "/admin/tenants", create_tenant, "Create a tenant",
          body=body_schema(_SCHEMA, ("name",)), response=TENANT, status=201)
    route(app, "GET", "/admin/tenants/{id}", get_tenant, "Get a tenant", response=TENANT)
    route(app, "PATCH", "/admin/tenants/{id}", update_tenant,
          "Change a tenant's name, limits or budget", body=body_schema(_SCHEMA),
          response=TENANT)
    route(app, "DELETE", "/admin/tenants/{id}", delete_tenant, "Delete a tenant",
          response=DELETED)
