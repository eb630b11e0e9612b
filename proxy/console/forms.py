"""The console's changes: each form becomes one admin API call (``dispatch``), so it is
validated, logged with the signed-in admin and synced to other replicas exactly like a
REST change. Then post/redirect/get, with the outcome as a one-time notice."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from aiohttp_session import get_session
from multidict import MultiDictProxy

from .dispatch import Answer, admin_call
from .session import ACTOR, action
from .views import keys_page

__all__ = ["ROUTES"]

Form = MultiDictProxy[Any]


async def _form(request: web.Request) -> Form:
    return await request.post()  # already read (and CSRF-checked) by @action


def _text(form: Form, name: str) -> str | None:
    value = form.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _number(form: Form, name: str, kind: type[int] | type[float] = int) -> Any:
    """``None`` for an empty field; the raw text when it is not a number, so that the
    admin API's validation answers with its own message."""
    value = _text(form, name)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        return value


def _json(form: Form, name: str) -> Any:
    value = _text(form, name)
    if value is None:
        return {}
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value  # not an object: the admin API says so


async def _after(request: web.Request, answer: Answer, done: str, to: str,
                 failed_to: str | None = None) -> web.Response:
    session = await get_session(request)
    session["flash"] = ["notice", done] if answer.ok else ["problem", answer.error]
    raise web.HTTPSeeOther(to if answer.ok else (failed_to or to))


async def _call(request: web.Request, method: str, path: str,
                body: dict[str, Any] | None = None) -> Answer:
    return await admin_call(request, request[ACTOR], method, path, body=body)


@action
async def create_provider(request: web.Request) -> web.Response:
    form = await _form(request)
    answer = await _call(request, "POST", "/admin/providers", {
        "name": _text(form, "name"), "provider_type": _text(form, "provider_type"),
        "base_url": _text(form, "base_url") or "", "config": _json(form, "config"),
        "enabled": True})
    if answer.ok and _text(form, "key"):
        added = await _call(request, "POST", "/admin/keys", {
            "provider_id": answer.data["id"], "name": "key-1", "key": _text(form, "key")})
        if not added.ok:
            answer = added
    return await _after(request, answer, "Provider created.", "/ui/providers")


@action
async def update_provider(request: web.Request) -> web.Response:
    form, provider_id = await _form(request), request.match_info["id"]
    answer = await _call(request, "PATCH", f"/admin/providers/{provider_id}", {
        "name": _text(form, "name"), "base_url": _text(form, "base_url") or "",
        "config": _json(form, "config"), "enabled": form.get("enabled") == "on"})
    return await _after(request, answer, "Provider saved.", f"/ui/providers/{provider_id}")


@action
async def delete_provider(request: web.Request) -> web.Response:
    provider_id = request.match_info["id"]
    answer = await _call(request, "DELETE", f"/admin/providers/{provider_id}")
    return await _after(request, answer, "Provider deleted.", "/ui/providers",
                        f"/ui/providers/{provider_id}")


@action
async def add_key(request: web.Request) -> web.Response:
    form, provider_id = await _form(request), request.match_info["id"]
    answer = await _call(request, "POST", "/admin/keys", {
        "provider_id": int(provider_id) if provider_id.isdigit() else provider_id,
        "name": _text(form, "name"), "key": _text(form, "key")})
    return await _after(request, answer, "Key added.", f"/ui/providers/{provider_id}")


def _key_provider(form: Form) -> str:
    provider_id = _text(form, "provider_id")
    return f"/ui/providers/{provider_id}" if provider_id and provider_id.isdigit() \
        else "/ui/providers"


@action
async def rotate_key(request: web.Request) -> web.Response:
    form, key_id = await _form(request), request.match_info["id"]
    back = _key_provider(form)
    answer = await _call(request, "POST", f"/admin/keys/{key_id}/rotate",
                         {"key": _text(form, "key")})
    return await _after(request, answer, "Key rotated.", back)


@action
async def delete_key(request: web.Request) -> web.Response:
    form, key_id = await _form(request), request.match_info["id"]
    back = _key_provider(form)
    answer = await _call(request, "DELETE", f"/admin/keys/{key_id}")
    return await _after(request, answer, "Key deleted.", back)


@action
async def add_mapping(request: web.Request) -> web.Response:
    form = await _form(request)
    answer = await _call(request, "POST", "/admin/mappings", {
        "alias_name": _text(form, "alias_name"), "provider_id": _number(form, "provider_id"),
        "provider_model_name": _text(form, "provider_model_name"),
        "order_index": _number(form, "order_index") or 0,
        "is_default": form.get("is_default") == "on"})
    return await _after(request, answer, "Chain entry added.", "/ui/routes")


@action
async def move_mapping(request: web.Request) -> web.Response:
    """Swap the entry with its neighbour in the alias's chain (one PATCH each)."""
    form, mapping_id = await _form(request), int(request.match_info["id"])
    listing = await _call(request, "GET", "/admin/mappings")
    rows = listing.data["data"] if listing.ok else []
    me = next((m for m in rows if m["id"] == mapping_id), None)
    if me is None:
        return await _after(request, listing if not listing.ok else Answer(
            404, {"error": {"message": "no such mapping"}}), "", "/ui/routes")
    chain = sorted((m for m in rows if m["alias_name"] == me["alias_name"]),
                   key=lambda m: (m["order_index"], m["id"]))
    at = chain.index(me)
    step = -1 if form.get("direction") == "up" else 1
    if not 0 <= at + step < len(chain):
        return await _after(request, Answer(200, None), "Already at that end.", "/ui/routes")
    other = chain[at + step]
    mine, theirs = me["order_index"], other["order_index"]
    if mine == theirs:  # one group: leave it by taking the next free order on that side
        mine = theirs + step if step > 0 else max(0, theirs - 1)
        answer = await _call(request, "PATCH", f"/admin/mappings/{me['id']}",
                             {"order_index": mine})
    else:
        parked = max(m["order_index"] for m in chain) + 1  # free slot during the swap
        answer = await _call(request, "PATCH", f"/admin/mappings/{me['id']}",
                             {"order_index": parked})
        if answer.ok:
            answer = await _call(request, "PATCH", f"/admin/mappings/{other['id']}",
                                 {"order_index": mine})
        if answer.ok:
            answer = await _call(request, "PATCH", f"/admin/mappings/{me['id']}",
                                 {"order_index": theirs})
    return await _after(request, answer, "Chain reordered.", "/ui/routes")


@action
async def delete_mapping(request: web.Request) -> web.Response:
    answer = await _call(request, "DELETE", f"/admin/mappings/{request.match_info['id']}")
    return await _after(request, answer, "Chain entry removed.", "/ui/routes")


def _limits(form: Form) -> dict[str, Any]:
    fields = {"rpm_limit": _number(form, "rpm_limit"), "tpm_limit": _number(form, "tpm_limit")}
    budget = _number(form, "budget_usd", float)
    if budget is not None:
        fields["budget_usd"] = budget
        fields["budget_period"] = _text(form, "budget_period") or "month"
    return fields


@action
async def create_api_key(request: web.Request) -> web.Response:
    form = await _form(request)
    models = _text(form, "allowed_models")
    body: dict[str, Any] = {
        "name": _text(form, "name"), "tenant": _text(form, "tenant"),
        "is_admin": form.get("is_admin") == "on", **_limits(form),
        "allowed_models": [m.strip() for m in models.split(",") if m.strip()] if models else None}
    if _text(form, "expires_at"):
        body["expires_at"] = _text(form, "expires_at")
    answer = await _call(request, "POST", "/admin/api-keys", body)
    if not answer.ok:
        return await _after(request, answer, "", "/ui/keys")
    # the plaintext exists only in this answer: shown once, never stored or redirected
    return await keys_page(request, new_key=answer.data,
                           notice=f"Client key {answer.data['name']} created.")


@action
async def set_api_key_enabled(request: web.Request) -> web.Response:
    form, key_id = await _form(request), request.match_info["id"]
    enabled = form.get("enabled") == "true"
    answer = await _call(request, "PATCH", f"/admin/api-keys/{key_id}", {"enabled": enabled})
    return await _after(request, answer, "Key enabled." if enabled else "Key disabled.",
                        "/ui/keys")


@action
async def delete_api_key(request: web.Request) -> web.Response:
    answer = await _call(request, "DELETE", f"/admin/api-keys/{request.match_info['id']}")
    return await _after(request, answer, "Client key deleted.", "/ui/keys")


@action
async def create_tenant(request: web.Request) -> web.Response:
    form = await _form(request)
    answer = await _call(request, "POST", "/admin/tenants",
                         {"name": _text(form, "name"), **_limits(form)})
    return await _after(request, answer, "Tenant created.", "/ui/keys")


@action
async def delete_tenant(request: web.Request) -> web.Response:
    answer = await _call(request, "DELETE", f"/admin/tenants/{request.match_info['id']}")
    return await _after(request, answer, "Tenant deleted.", "/ui/keys")


ROUTES = (
    ("/providers", create_provider), ("/providers/{id}", update_provider),
    ("/providers/{id}/delete", delete_provider), ("/providers/{id}/keys", add_key),
    ("/keys/{id}/rotate", rotate_key), ("/keys/{id}/delete", delete_key),
    ("/mappings", add_mapping), ("/mappings/{id}/move", move_mapping),
    ("/mappings/{id}/delete", delete_mapping), ("/api-keys", create_api_key),
    ("/api-keys/{id}/enabled", set_api_key_enabled), ("/api-keys/{id}/delete", delete_api_key),
    ("/tenants", create_tenant), ("/tenants/{id}/delete", delete_tenant),
)
