"""``/admin/api-keys``: the plaintext once, a keyed hash stored, limits validated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from proxy.config import Settings
from proxy.crypto import hash_client_key
from proxy.store import open_store
from tests.admin.conftest import SECRET_KEY, Api

pytestmark = pytest.mark.timeout(60)


async def test_the_key_is_returned_once_and_only_its_hash_is_stored(
    api: Api, settings: Settings
) -> None:
    expires = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    created = await api.client_key(
        "team-a", tenant="acme", is_admin=False, rpm_limit=60, tpm_limit=0,
        allowed_models=["m1", "m2"], expires_at=expires.isoformat(),
    )
    key = created.pop("key")
    assert key.startswith("sk-proxy-") and len(key) > 40
    assert created["key_prefix"] == key[:12]
    assert {k: created[k] for k in ("name", "tenant", "is_admin", "rpm_limit", "tpm_limit",
                                    "allowed_models")} == {
        "name": "team-a", "tenant": "acme", "is_admin": False, "rpm_limit": 60,
        "tpm_limit": 0, "allowed_models": ["m1", "m2"]}
    assert created["expires_at"] == expires.isoformat().replace("+00:00", "Z")
    assert await api.ok("GET", f"/admin/api-keys/{created['id']}") == created
    assert (await api.ok("GET", "/admin/api-keys"))["data"] == [created]
    assert sum(key in text for text in api.seen) == 1

    store = await open_store(settings.database_url)
    try:
        row = await store.get_api_key(created["id"])
    finally:
        await store.aclose()
    assert row is not None and row.key_hash == hash_client_key(SECRET_KEY, key)


async def test_defaults_and_a_time_without_zone_is_utc(api: Api) -> None:
    minimal = await api.client_key("min")
    assert (minimal["tenant"], minimal["is_admin"], minimal["rpm_limit"], minimal["tpm_limit"],
            minimal["allowed_models"], minimal["expires_at"]) == (None, False, None, None,
                                                                  None, None)
    naive = await api.client_key("naive", expires_at="2999-01-02T03:04:05")
    assert naive["expires_at"] == "2999-01-02T03:04:05Z"


async def test_a_created_key_works_at_once_and_a_deleted_one_stops_at_once(api: Api) -> None:
    pid = (await api.provider())["id"]
    await api.mapping("allowed", pid)
    await api.mapping("forbidden", pid)
    created = await api.client_key("c", allowed_models=["allowed"])
    listed = await api.ok("GET", "/v1/models", key=created["key"])
    assert [m["id"] for m in listed["data"]] == ["allowed"]
    assert (await api.chat("allowed", created["key"])).status == 200
    assert (await api.chat("forbidden", created["key"])).status in (403, 404)
    assert await api.ok("DELETE", f"/admin/api-keys/{created['id']}") == {
        "id": created["id"], "deleted": True}
    (await api.call("GET", "/v1/models", key=created["key"])).error(401)
    (await api.call("DELETE", f"/admin/api-keys/{created['id']}")).error(404)
    (await api.call("GET", f"/admin/api-keys/{created['id']}")).error(404)
    (await api.call("GET", "/admin/api-keys/nope")).error(404)


@pytest.mark.parametrize(("change", "param"), [
    ({"name": None}, "name"),
    ({"name": 1}, "name"),
    ({"tenant": 5}, "tenant"),
    ({"is_admin": "yes"}, "is_admin"),
    ({"rpm_limit": -1}, "rpm_limit"),
    ({"rpm_limit": 1.5}, "rpm_limit"),
    ({"rpm_limit": "10"}, "rpm_limit"),
    ({"tpm_limit": -5}, "tpm_limit"),
    ({"tpm_limit": 2**63}, "tpm_limit"),
    ({"allowed_models": "gpt-4o"}, "allowed_models"),
    ({"allowed_models": [1]}, "allowed_models"),
    ({"allowed_models": [""]}, "allowed_models"),
    ({"expires_at": "tomorrow"}, "expires_at"),
    ({"expires_at": 1700000000}, "expires_at"),
    ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ({"key": "sk-proxy-chosen-by-me"}, "key"),
    ({"key_hash": "00"}, "key_hash"),
])
async def test_invalid_client_key_fields_are_400(
    api: Api, change: dict[str, object], param: str
) -> None:
    body = {"name": "n", **change}
    (await api.call("POST", "/admin/api-keys", body)).error(400, param=param)
    assert (await api.ok("GET", "/admin/api-keys"))["data"] == []


async def test_name_is_required(api: Api) -> None:
    (await api.call("POST", "/admin/api-keys", {"tenant": "t"})).error(400, param="name")
