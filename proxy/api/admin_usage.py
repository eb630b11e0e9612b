"""``/admin/usage`` (spend and tokens grouped by one dimension) and ``/admin/prices``.

``GET /admin/usage?group_by=&start=&end=``: ``group_by`` is ``api_key``, ``tenant``,
``alias``, ``provider``, ``model`` (the upstream model) or ``day`` (UTC date); ``start``
(inclusive) and ``end`` (exclusive) are ISO-8601 times (no zone: UTC), both optional.
Answer: ``{"object": "list", "group_by", "start", "end", "data": [{<group_by>: value,
requests, input_tokens, output_tokens, cost_usd}]}`` — days in order, other groups by cost,
highest first; a value of null groups requests without one (refused before a key was
known, no tenant, ...). Every ``/v1`` request in the audit trail counts, refused ones
included. Served from the hourly rollup (``proxy.store.sql_spend``): fast over millions
of audit rows. A missing or unknown ``group_by``, a bad time or ``end`` before ``start``
is a 400.

``GET /admin/prices``: the effective price of every configured chain entry, USD per
million tokens: ``{alias, provider, model, source: mapping | builtin | unpriced,
input_per_mtok, output_per_mtok, cached_input_per_mtok, cache_write_per_mtok, ...}``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from supervisors.errors import InvalidRequest

from ..appkeys import GATEWAY, SPEND
from ..auth import ClientKey
from ..spend.cost import nanos_to_usd
from ..store.sql_spend import GROUPS
from .admin_common import admin_route, iso, json_response
from .admin_fields import parse_query, query_text, query_time
from .openapi import INT, STR, TIME, list_of, obj, route

__all__ = ["setup_routes"]

_QUERY = {"group_by": query_text(20), "start": query_time(), "end": query_time()}


@admin_route
async def usage(request: web.Request, client: ClientKey) -> web.Response:
    query = parse_query(request.query, _QUERY)
    group_by = query.get("group_by")
    if group_by not in GROUPS:
        raise InvalidRequest(
            f"'group_by' must be one of: {', '.join(GROUPS)}", param="group_by",
            code="missing_required_parameter" if group_by is None else None)
    start, end = query.get("start"), query.get("end")
    if start is not None and end is not None and end < start:
        raise InvalidRequest("'end' must not be before 'start'", param="end")
    rows = await request.app[GATEWAY].store.usage(group_by, start, end)
    if group_by == "day":
        rows.sort(key=lambda r: r.key)
    else:
        rows.sort(key=lambda r: (-r.cost_nanos, -r.requests, str(r.key)))
    data = [
        {group_by: r.key, "requests": r.requests, "input_tokens": r.input_tokens,
         "output_tokens": r.output_tokens, "cost_usd": nanos_to_usd(r.cost_nanos)}
        for r in rows
    ]
    return json_response({"object": "list", "group_by": group_by, "start": iso(start),
                          "end": iso(end), "data": data})


@admin_route
async def prices(request: web.Request, client: ClientKey) -> web.Response:
    table = request.app[SPEND].prices
    routes = request.app[GATEWAY].routes
    await table.ready_for(hop for chain in routes.aliases.values() for hop in chain.hops)
    data: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for alias, chain in sorted(routes.aliases.items()):
        for hop in chain.hops:
            if (alias, hop.provider, hop.model) in seen:
                continue
            seen.add((alias, hop.provider, hop.model))
            price = table.price(hop.provider_type, hop.model, hop.pricing)
            entry: dict[str, Any] = {"alias": alias, "provider": hop.provider,
                                     "model": hop.model}
            entry.update(price.describe() if price is not None else {"source": "unpriced"})
            data.append(entry)
    return json_response({"object": "list", "data": data})


_USAGE_ROW = obj(("requests", "input_tokens", "output_tokens", "cost_usd"),
                 requests=INT, input_tokens=INT, output_tokens=INT,
                 cost_usd={"type": "number"})
_USAGE = {**list_of(_USAGE_ROW)}
_USAGE["properties"] = {**_USAGE["properties"], "group_by": STR, "start": TIME, "end": TIME}
_NUMBER = {"type": "number"}
_PRICE = obj(("alias", "provider", "model", "source"), alias=STR, provider=STR, model=STR,
             source={"enum": ["mapping", "builtin", "unpriced"]}, input_per_mtok=_NUMBER,
             output_per_mtok=_NUMBER, cached_input_per_mtok=_NUMBER,
             cache_write_per_mtok=_NUMBER)


def setup_routes(app: web.Application) -> None:
    route(app, "GET", "/admin/usage", usage,
          "Requests, tokens and cost grouped by key, tenant, alias, provider, model or day",
          query=_QUERY, response=_USAGE)
    route(app, "GET", "/admin/prices", prices,
          "The effective price of every chain entry, USD per million tokens",
          response=list_of(_PRICE))
