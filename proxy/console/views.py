"""The console's pages: each reads what it shows through the admin API (``dispatch``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import orjson
from aiohttp import web
from aiohttp_session import get_session

from supervisors.spec import PROVIDER_TYPES

from .dispatch import admin_call
from .session import ACTOR, csrf_token, page

__all__ = ["NAV", "render"]

NAV = (("/ui/", "Overview"), ("/ui/providers", "Providers"), ("/ui/routes", "Routes"),
       ("/ui/keys", "Keys & tenants"), ("/ui/usage", "Usage"), ("/ui/audit", "Audit"))
_AUDIT_FILTERS = (("request_id", "Request id"), ("api_key_id", "Key id"), ("tenant", "Tenant"),
                  ("alias", "Model asked"), ("status", "Status"), ("session_id", "Session"))


async def render(request: web.Request, template: str, title: str, current: str,
                 status: int = 200, **context: Any) -> web.Response:
    session = await get_session(request)
    flash = session.pop("flash", None)  # what the last change said (post/redirect/get)
    if isinstance(flash, list) and len(flash) == 2:
        context.setdefault("problem" if flash[0] == "problem" else "notice", flash[1])
    response = aiohttp_jinja2.render_template(template, request, {
        "title": title, "current": current, "nav": NAV, "admin": request.get(ACTOR),
        "csrf": csrf_token(session), **context})
    response.set_status(status)
    return response


async def _get(request: web.Request, path: str, **query: str) -> Any:
    answer = await admin_call(request, request[ACTOR], "GET", path, query=query)
    return answer.data if answer.ok else None


@page
async def overview(request: web.Request) -> web.Response:
    return await render(request, "overview.html", "Overview", "/ui/",
                        health=await _get(request, "/admin/health"))


@page
async def tree(request: web.Request) -> web.Response:
    return aiohttp_jinja2.render_template(
        "tree.html", request, {"health": await _get(request, "/admin/health")})


def _data(listing: Any) -> list[dict[str, Any]]:
    return list(listing["data"]) if isinstance(listing, dict) else []


@page
async def providers(request: web.Request) -> web.Response:
    keys: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
    for key in _data(await _get(request, "/admin/keys")):
        keys[key["provider_id"]].append(key)
    return await render(request, "providers.html", "Providers", "/ui/providers",
                        providers=_data(await _get(request, "/admin/providers")),
                        keys_by_provider=keys, provider_types=sorted(PROVIDER_TYPES))


@page
async def provider(request: web.Request) -> web.Response:
    provider_id = request.match_info["id"]
    row = await _get(request, f"/admin/providers/{provider_id}")
    if row is None:
        raise web.HTTPSeeOther("/ui/providers")
    keys = _data(await _get(request, "/admin/keys", provider_id=provider_id))
    return await render(request, "provider.html", f"Provider {row['name']}", "/ui/providers",
                        provider=row, keys=keys,
                        config_json=orjson.dumps(row["config"], option=orjson.OPT_INDENT_2).decode())


@page
async def routes(request: web.Request) -> web.Response:
    names = {p["id"]: p["name"] for p in _data(await _get(request, "/admin/providers"))}
    chains: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for m in _data(await _get(request, "/admin/mappings")):
        chains.setdefault(m["alias_name"], {}).setdefault(m["order_index"], []).append(m)
    aliases = [(alias, sorted(groups.items())) for alias, groups in sorted(chains.items())]
    next_order = max((o for g in chains.values() for o in g), default=-1) + 1
    return await render(request, "routes.html", "Routes", "/ui/routes", aliases=aliases,
                        providers=names, next_order=next_order)


async def keys_page(request: web.Request, **context: Any) -> web.Response:
    """The keys page; ``new_key`` shows a just-created key, once."""
    tenants = await _get(request, "/admin/tenants")
    return await render(request, "keys.html", "Client keys and tenants", "/ui/keys",
                        api_keys=_data(await _get(request, "/admin/api-keys")),
                        tenants=_data(tenants) if tenants is not None else None, **context)


keys = page(keys_page)


def _chart(days: list[dict[str, Any]]) -> dict[str, Any]:
    width, height, gap = 720, 200, 2
    peak = max((float(d["cost_usd"]) for d in days), default=0.0)
    slot = width / max(1, len(days))
    bars = []
    for i, d in enumerate(days):
        h = 0.0 if peak <= 0 else (height - 10) * float(d["cost_usd"]) / peak
        bars.append({"x": round(i * slot + gap / 2, 1), "w": round(max(1.0, slot - gap), 1),
                     "y": round(height - h, 1), "h": round(h, 1), "label": d["day"],
                     "cost": d["cost_usd"], "tokens": d["input_tokens"] + d["output_tokens"]})
    return {"width": width, "height": height, "bars": bars, "peak": peak}


@page
async def usage(request: web.Request) -> web.Response:
    try:
        span = min(366, max(1, int(request.query.get("days", "30"))))
    except ValueError:
        span = 30
    end = datetime.now(UTC)
    window = {"start": (end - timedelta(days=span)).isoformat(), "end": end.isoformat()}
    per_day = await _get(request, "/admin/usage", group_by="day", **window)
    if per_day is None:
        return await render(request, "usage.html", "Usage", "/ui/usage", days=None)
    days = sorted(_data(per_day), key=lambda d: str(d["day"]))
    tops = []
    for title, key in (("keys", "api_key"), ("tenants", "tenant"), ("models", "model")):
        rows = _data(await _get(request, "/admin/usage", group_by=key, **window))
        rows.sort(key=lambda r: float(r["cost_usd"]), reverse=True)
        tops.append((title, key, rows[:10]))
    return await render(request, "usage.html", "Usage", "/ui/usage", days=days, span=span,
                        chart=_chart(_every_day(days, end, span)), tops=tops)


def _every_day(days: list[dict[str, Any]], end: datetime, span: int) -> list[dict[str, Any]]:
    """One entry per calendar day of the window (zero where there was no traffic), so
    the chart's axis is time."""
    known = {str(d["day"])[:10]: d for d in days}
    out = []
    for offset in range(span, -1, -1):
        day = (end - timedelta(days=offset)).date().isoformat()
        out.append(known.get(day) or {"day": day, "requests": 0, "input_tokens": 0,
                                      "output_tokens": 0, "cost_usd": 0})
    return out


@page
async def audit(request: web.Request) -> web.Response:
    query = {name: request.query.get(name, "").strip() for name, _ in _AUDIT_FILTERS}
    query = {k: v for k, v in query.items() if v}
    after = request.query.get("after_id", "")
    answer = await admin_call(request, request[ACTOR], "GET", "/admin/audit",
                              query={**query, "limit": "50", "order": "desc",
                                     **({"after_id": after} if after else {})})
    records = _data(answer.data) if answer.ok else []
    problem = None if answer.ok else answer.error
    next_after = records[-1]["id"] if len(records) == 50 else None
    return await render(request, "audit.html", "Audit trail", "/ui/audit", records=records,
                        filters=_AUDIT_FILTERS, query=query, problem=problem,
                        next_after=next_after,
                        next_query=urlencode({**query, "after_id": next_after or ""}))


@page
async def record(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise web.HTTPSeeOther("/ui/audit")
    # the record with this id: the one after id-1, newest-first order off
    listing = await _get(request, "/admin/audit", after_id=str(int(raw) - 1), limit="1")
    found = [r for r in _data(listing) if r.get("id") == int(raw)]
    if not found:
        raise web.HTTPSeeOther("/ui/audit")
    fields = [(k, v if isinstance(v, str | int | float) or v is None
               else orjson.dumps(v, option=orjson.OPT_INDENT_2).decode())
              for k, v in found[0].items()]
    return await render(request, "record.html", f"Request {found[0]['request_id']}",
                        "/ui/audit", fields=fields)
