"""``GET /admin/routes``: the routing table as this replica uses it, with live load.

One entry per alias (and ``default`` for the catch-all chain, when one is configured):
its chain as groups in ``order_index`` order, each member with its mapping id, provider,
upstream model, ``weight``, ``hedge_after_ms`` and ``cache_ttl``, plus the provider's
calls in flight, queued calls and circuit state right now. A group of one member is an
ordinary chain entry. ``?alias=`` narrows the list to one alias (404 when unknown).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from supervisors.errors import NotFound

from ..appkeys import GATEWAY
from ..auth import ClientKey
from ..routing import Group, Hop, Route
from .admin_common import admin_route, json_response
from .admin_fields import parse_query, query_text
from .openapi import OBJECT, STR, list_of, obj, route

__all__ = ["setup_routes"]

_QUERY = {"alias": query_text(256)}


def _member(hop: Hop, request: web.Request) -> dict[str, Any]:
    sup = request.app[GATEWAY].root.get(hop.provider)
    return {
        "mapping_id": hop.mapping_id,
        "provider": hop.provider,
        "model": hop.model,
        "weight": hop.weight,
        "hedge_after_ms": round(hop.hedge_after * 1000) if hop.hedge_after else None,
        "cache_ttl": hop.cache_ttl,
        "in_flight": sup.in_flight if sup else 0,
        "queued": sup.inbox.qsize() if sup else 0,
        "circuit": sup.circuit_state.name.lower() if sup else "stopped",
    }


def _route_json(route: Route, request: web.Request) -> dict[str, Any]:
    groups = route.groups or tuple(Group((h,)) for h in route.hops)
    return {
        "alias": route.alias,
        "cache_ttl": route.cache_ttl or None,
        "groups": [
            {"order_index": g.members[0].order_index,
             "members": [_member(h, request) for h in g.members]}
            for g in groups
        ],
    }


@admin_route
async def list_routes(request: web.Request, client: ClientKey) -> web.Response:
    query = parse_query(request.query, _QUERY)
    table = request.app[GATEWAY].routes
    routes = dict(table.aliases)
    if table.default is not None:
        routes.setdefault("default", table.default)
    alias = query.get("alias")
    if alias is not None:
        if alias not in routes:
            raise NotFound(f"No route for alias {alias!r}.", param="alias",
                           code="route_not_found")
        routes = {alias: routes[alias]}
    data = [_route_json(routes[name], request) for name in sorted(routes)]
    return json_response({"object": "list", "data": data})


def setup_routes(app: web.Application) -> None:
    route(app, "GET", "/admin/routes", list_routes, "Routing table with live load",
          query=_QUERY, response=list_of(obj(("alias",), alias=STR,
                                              groups={"type": "array", "items": OBJECT})))
