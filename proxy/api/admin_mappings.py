"""``/admin/mappings``: model aliases → ordered chains of (provider, upstream model).

A mapping is ``{alias_name, provider_id, provider_model_name, order_index, is_default,
config}``. ``provider_id`` must name an existing provider (else 400); ``order_index`` is
an integer ≥ 0, unique per alias (409 on a clash) and defaults to the end of the alias's
chain; ``config`` is an object of default request parameters and of settings for the
proxy itself (``stream_resume``, ``supports_prefill``, and the routing settings checked by
:func:`mapping_config`). ``PATCH`` replaces the fields it names.

Mappings of one alias may share an ``order_index``: they form a routing group, spread by
``weight`` (``proxy.routing``); the same provider and model twice in a group is a 409.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from supervisors.errors import InvalidRequest

from ..appkeys import GATEWAY
from ..auth import ClientKey
from ..store.base import MappingRow
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
from .admin_fields import Validator, boolean, integer, json_object, parse_body, text
from .validate import read_json

__all__ = ["mapping_config", "setup_routes"]


def _positive(low: float, high: float, integral: bool) -> Validator:
    kind = "an integer" if integral else "a number"

    def check(name: str, value: Any) -> Any:
        ok = isinstance(value, int) if integral else isinstance(value, int | float)
        if isinstance(value, bool) or not ok or not low <= value <= high:
            raise InvalidRequest(f"'{name}' must be {kind} from {low:g} to {high:g}", param=name)
        return value

    return check


#: the routing settings of a mapping's config (its other keys are request defaults):
#: share within the routing group, hedging delay, response cache lifetime in seconds
_SETTINGS: dict[str, Validator] = {
    "weight": _positive(0.001, 1_000_000, integral=False),
    "hedge_after_ms": _positive(1, 600_000, integral=True),
    "cache_ttl": _positive(1, 31_536_000, integral=True),
}


def mapping_config() -> Validator:
    """An object whose routing settings, when present and not null, are in range
    (else a 400 naming ``config.<key>``)."""
    base = json_object()

    def check(name: str, value: Any) -> Any:
        value = base(name, value)
        for key, setting in _SETTINGS.items():
            if value.get(key) is not None:
                setting(f"{name}.{key}", value[key])
        return value

    return check

_SCHEMA: dict[str, Validator] = {
    "alias_name": text(256),
    "provider_id": integer(1),
    "provider_model_name": text(256),
    "order_index": integer(0, 1_000_000),
    "is_default": boolean(),
    "config": mapping_config(),
}


def mapping_json(row: MappingRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "model_mapping",
        "alias_name": row.alias_name,
        "provider_id": row.provider_id,
        "provider_model_name": row.provider_model_name,
        "order_index": row.order_index,
        "is_default": row.is_default,
        "config": row.config,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


@admin_route
async def list_mappings(request: web.Request, client: ClientKey) -> web.Response:
    rows = await request.app[GATEWAY].store.list_mappings()
    return json_response({"object": "list", "data": [mapping_json(r) for r in rows]})


@admin_route
async def create_mapping(request: web.Request, client: ClientKey) -> web.Response:
    fields = parse_body(
        await read_json(request), _SCHEMA,
        required=("alias_name", "provider_id", "provider_model_name"),
        defaults={"is_default": False, "config": {}},
    )
    store = request.app[GATEWAY].store
    if "order_index" not in fields:
        used = [m.order_index for m in await store.list_mappings()
                if m.alias_name == fields["alias_name"]]
        fields["order_index"] = max(used) + 1 if used else 0
    row = await store.create_mapping(**fields)
    await apply_change(request)
    log_change(client, "mapping created", mapping_id=row.id, alias=row.alias_name,
               provider_id=row.provider_id, order_index=row.order_index)
    return json_response(mapping_json(row), status=201)


@admin_route
async def get_mapping(request: web.Request, client: ClientKey) -> web.Response:
    row = await fetch_row(request, "mapping", request.app[GATEWAY].store.get_mapping)
    return json_response(mapping_json(row))


@admin_route
async def update_mapping(request: web.Request, client: ClientKey) -> web.Response:
    mapping_id = path_id(request, "mapping")
    fields = parse_body(await read_json(request), _SCHEMA)
    row = await request.app[GATEWAY].store.update_mapping(mapping_id, **fields)
    if row is None:
        raise not_found("mapping", mapping_id)
    await apply_change(request)
    log_change(client, "mapping updated", mapping_id=row.id, fields=sorted(fields))
    return json_response(mapping_json(row))


@admin_route
async def delete_mapping(request: web.Request, client: ClientKey) -> web.Response:
    store = request.app[GATEWAY].store
    return await delete_row(request, client, "mapping", store.delete_mapping, "mapping_id")


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/admin/mappings", list_mappings)
    app.router.add_post("/admin/mappings", create_mapping)
    app.router.add_get("/admin/mappings/{id}", get_mapping)
    app.router.add_patch("/admin/mappings/{id}", update_mapping)
    app.router.add_delete("/admin/mappings/{id}", delete_mapping)
