"""``/admin/mappings``: model aliases → ordered chains of (provider, upstream model).

A mapping is ``{alias_name, provider_id, provider_model_name, order_index, is_default,
config}``. ``provider_id`` must name an existing provider (else 400); ``order_index`` is
an integer ≥ 0, unique per alias (409 on a clash) and defaults to the end of the alias's
chain; ``config`` is an object of default request parameters and of settings for the
proxy itself (``MAPPING_KEYS`` in ``config_fields``: ``stream_resume``, ``supports_prefill``,
the routing settings ...); any other key is a 400. ``PATCH`` replaces the fields it names.

Mappings of one alias may share an ``order_index``: they form a routing group, spread by
``weight`` (``proxy.routing``); the same provider and model twice in a group is a 409.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

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
    update_row,
)
from .admin_fields import Validator, boolean, described, integer, json_object, parse_body, text
from .config_fields import check_mapping_config, mapping_config_schema
from .openapi import BOOL, DELETED, INT, OBJECT, STR, TIME, body_schema, list_of, obj, route
from .validate import read_json

__all__ = ["check_mapping", "mapping_json", "setup_routes"]


_SCHEMA: dict[str, Validator] = {
    "alias_name": text(256),
    "provider_id": integer(1),
    "provider_model_name": text(256),
    "order_index": integer(0, 1_000_000),
    "is_default": boolean(),
    "config": described(json_object(), mapping_config_schema()),
}
_REQUIRED = ("alias_name", "provider_id", "provider_model_name")
MAPPING = obj(("id", "alias_name", "provider_id", "provider_model_name", "order_index"),
              id=INT, object=STR, alias_name=STR, provider_id=INT, provider_model_name=STR,
              order_index=INT, is_default=BOOL, config=OBJECT, created_at=TIME,
              updated_at=TIME)


def check_mapping(body: Mapping[str, Any]) -> dict[str, Any]:
    """A new mapping's fields as ``POST /admin/mappings`` accepts them (else a 400 naming
    the field); ``openai-proxy apply`` checks with it too."""
    fields = parse_body(body, _SCHEMA, required=_REQUIRED,
                        defaults={"is_default": False, "config": {}})
    check_mapping_config(fields["config"])
    return fields


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
    fields = check_mapping(await read_json(request))
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
    fields = parse_body(await read_json(request), _SCHEMA)
    if "config" in fields:
        check_mapping_config(fields["config"])
    row = await update_row(request, client, "mapping", fields,
                           request.app[GATEWAY].store.update_mapping, "mapping_id")
    return json_response(mapping_json(row))


@admin_route
async def delete_mapping(request: web.Request, client: ClientKey) -> web.Response:
    store = request.app[GATEWAY].store
    return await delete_row(request, client, "mapping", store.delete_mapping, "mapping_id")


def setup_routes(app: web.Application) -> None:
    route(app, "GET", "/admin/mappings", list_mappings, "List model mappings",
          response=list_of(MAPPING))
    route(app, "POST", "/admin/mappings", create_mapping, "Add an entry to an alias's chain",
          body=body_schema(_SCHEMA, _REQUIRED), response=MAPPING, status=201)
    route(app, "GET", "/admin/mappings/{id}", get_mapping, "Get a mapping", response=MAPPING)
    route(app, "PATCH", "/admin/mappings/{id}", update_mapping,
          "Change a mapping (the fields given)", body=body_schema(_SCHEMA), response=MAPPING)
    route(app, "DELETE", "/admin/mappings/{id}", delete_mapping, "Delete a mapping",
          response=DELETED)
