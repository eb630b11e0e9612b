"""Who may use the admin API: ADMIN_API_KEY and admin client keys; nobody else."""

from __future__ import annotations

import pytest

from tests.admin.conftest import ADMIN_KEY, NO_BODY, Api

pytestmark = pytest.mark.timeout(60)

#: every admin route, with a body that would be acceptable in shape
ROUTES: list[tuple[str, str, object]] = [
    ("GET", "/admin/providers", None),
    ("POST", "/admin/providers", {"name": "x", "provider_type": "mock"}),
    ("GET", "/admin/providers/999", None),
    ("PATCH", "/admin/providers/999", {"enabled": False}),
    ("DELETE", "/admin/providers/999", None),
    ("GET", "/admin/keys", None),
    ("POST", "/admin/keys", {"provider_id": 999, "name": "k", "key": "sk-0123456789"}),
    ("GET", "/admin/keys/999", None),
    ("DELETE", "/admin/keys/999", None),
    ("POST", "/admin/keys/999/rotate", {"key": "sk-0123456789"}),
    ("GET", "/admin/mappings", None),
    ("POST", "/admin/mappings", {"alias_name": "a", "provider_id": 999,
                                 "provider_model_name": "m"}),
    ("GET", "/admin/mappings/999", None),
    ("PATCH", "/admin/mappings/999", {"order_index": 3}),
    ("DELETE", "/admin/mappings/999", None),
    ("GET", "/admin/api-keys", None),
    ("POST", "/admin/api-keys", {"name": "n"}),
    ("GET", "/admin/api-keys/999", None),
    ("DELETE", "/admin/api-keys/999", None),
    ("GET", "/admin/health", None),
    ("GET", "/admin/audit", None),
    ("POST", "/admin/encryption/rotate", None),
]


def _body(body: object) -> object:
    return NO_BODY if body is None else body


async def test_every_route_refuses_a_missing_or_wrong_key_with_401(api: Api) -> None:
    for method, path, body in ROUTES:
        err = (await api.call(method, path, _body(body), key=None)).error(401)
        assert err["code"] == "missing_api_key", (method, path)
        (await api.call(method, path, _body(body), key="sk-wrong-0123456789")).error(401)
    reply = await api.client.get("/admin/providers", headers={"Authorization": "Basic abc"})
    assert reply.status == 401


async def test_every_route_refuses_a_client_key_without_is_admin_with_403(api: Api) -> None:
    plain = (await api.client_key("plain"))["key"]
    for method, path, body in ROUTES:
        err = (await api.call(method, path, _body(body), key=plain)).error(403)
        assert err["type"] == "permission_error", (method, path)
    assert len((await api.ok("GET", "/admin/providers"))["data"]) == 0  # nothing was created


@pytest.mark.parametrize("who", ["ADMIN_API_KEY", "admin client key"])
async def test_admin_credentials_pass_on_every_route(api: Api, who: str) -> None:
    key = ADMIN_KEY if who == "ADMIN_API_KEY" else (
        await api.client_key("ops", is_admin=True))["key"]
    for method, path, body in ROUTES:
        reply = await api.call(method, path, _body(body), key=key)
        assert reply.status not in (401, 403), (method, path, reply.text)
        assert reply.status < 500, (method, path, reply.text)


async def test_a_deleted_admin_client_key_is_refused_at_once(api: Api) -> None:
    created = await api.client_key("ops", is_admin=True)
    await api.ok("GET", "/admin/health", key=created["key"])
    await api.ok("DELETE", f"/admin/api-keys/{created['id']}", key=created["key"])
    (await api.call("GET", "/admin/health", key=created["key"])).error(401)
