"""``/admin/health``, ``/admin/audit`` and ``/admin/encryption/rotate``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from proxy.config import Settings
from proxy.crypto import generate_fernet_key
from proxy.store import open_store
from tests.admin.conftest import Api, serve
from tests.services import free_port, require_redis

pytestmark = pytest.mark.timeout(60)


async def test_health_reports_providers_database_redis_payloads_and_version(api: Api) -> None:
    before = (await api.ok("GET", "/admin/health"))["config"]["version"]
    pid = (await api.provider("mock-h"))["id"]
    await api.provider_key(pid, "sk-health-0123456789")
    await api.provider("off", enabled=False)
    health = await api.ok("GET", "/admin/health")
    assert health["status"] == "ok"
    assert health["config"]["version"] > before and health["config"]["last_sync_error"] is None
    assert [p["name"] for p in health["providers"]] == ["mock-h"]  # disabled: not running
    entry = health["providers"][0]
    assert entry["state"] == "running" and entry["restarts"] == 0
    assert entry["inbox_depth"] == 0 and entry["in_flight"] == 0
    assert entry["circuit_state"] == "closed" and entry["circuit"]["state"] == "closed"
    assert (entry["healthy_keys"], entry["total_keys"]) == (1, 1)
    assert entry["keys"][0]["key_masked"] == "****6789" and entry["last_error"] is None
    assert health["database"]["status"] == "ok"
    assert health["database"]["backend"] in ("sqlite", "postgresql")
    assert health["redis"] == {"status": "disabled", "backend": "in-process"}
    assert health["payload_store"]["status"] == "ok"
    assert health["payload_store"]["backend"] == "local"
    assert "sk-health-0123456789" not in api.seen[-1]


async def test_health_reports_redis_when_configured(settings: Settings) -> None:
    async with serve(settings.with_overrides(redis_url=require_redis())) as api:
        assert (await api.ok("GET", "/admin/health"))["redis"] == {
            "status": "ok", "backend": "redis"}
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with serve(settings.with_overrides(redis_url=dead)) as api:
        health = await api.ok("GET", "/admin/health")
        assert health["redis"]["status"] == "error" and health["status"] == "degraded"


async def _audit_rows(api: Api, want: int, **params: str) -> list[dict[str, Any]]:
    async with asyncio.timeout(10):
        while True:
            rows: list[dict[str, Any]] = (
                await api.ok("GET", "/admin/audit", params=params or None))["data"]
            if len(rows) >= want:
                return rows
            await asyncio.sleep(0.1)


async def test_audit_lists_pages_and_filters(api: Api) -> None:
    a, b = await api.provider("prov-a"), await api.provider("prov-b")
    await api.mapping("alias-a", a["id"])
    await api.mapping("alias-b", b["id"])
    acme = await api.client_key("acme", tenant="acme")
    beta = await api.client_key("beta", tenant="beta")
    for model, key in (("alias-a", acme), ("alias-b", acme), ("alias-a", beta)):
        assert (await api.chat(model, key["key"])).status == 200

    rows = await _audit_rows(api, 3)
    assert len(rows) == 3 and rows == sorted(rows, key=lambda r: r["id"])
    first = rows[0]
    assert first["tenant"] == "acme" and first["api_key_id"] == acme["id"]
    assert first["alias"] == "alias-a" and first["provider"] == "prov-a"
    assert first["upstream_model"] == "alias-a-upstream" and first["status"] == 200
    assert first["attempts"] == 1 and first["fallback_reasons"] == []
    assert first["total_tokens"] and first["created_at"].endswith("Z")
    assert first["request_id"] and first["endpoint"] == "/v1/chat/completions"

    page1 = await api.ok("GET", "/admin/audit", params={"limit": "2"})
    assert [r["id"] for r in page1["data"]] == [rows[0]["id"], rows[1]["id"]]
    assert page1["next_after_id"] == rows[1]["id"]
    page2 = await api.ok("GET", "/admin/audit",
                         params={"limit": "2", "after_id": str(page1["next_after_id"])})
    assert [r["id"] for r in page2["data"]] == [rows[2]["id"]]
    assert page2["next_after_id"] is None

    async def ids(**params: str) -> list[int]:
        return [r["id"] for r in (await api.ok("GET", "/admin/audit", params=params))["data"]]

    assert await ids(tenant="acme") == [rows[0]["id"], rows[1]["id"]]
    assert await ids(api_key_id=str(beta["id"])) == [rows[2]["id"]]
    assert await ids(provider="prov-b") == [rows[1]["id"]]
    assert await ids(status="200") == [r["id"] for r in rows]
    assert await ids(status="502") == []
    hour = timedelta(hours=1)
    past, future = datetime.now(UTC) - hour, datetime.now(UTC) + hour
    assert await ids(since=past.isoformat(), until=future.isoformat()) == [r["id"] for r in rows]
    assert await ids(since=future.isoformat()) == []
    assert await ids(until=past.strftime("%Y-%m-%dT%H:%M:%SZ")) == []
    assert await ids(tenant="acme", provider="prov-a") == [rows[0]["id"]]


async def test_audit_finds_a_request_by_id_alias_model_newest_first(api: Api) -> None:
    prov = await api.provider("prov-f")
    await api.mapping("alias-f", prov["id"], model="up-f")
    await api.mapping("alias-g", prov["id"], model="up-g")
    key = (await api.client_key("finder"))["key"]
    sent = []
    for model in ("alias-f", "alias-g", "alias-f"):
        reply = await api.chat(model, key)
        assert reply.status == 200
        sent.append({k.lower(): v for k, v in reply.headers.items()}["x-request-id"])
    rows = await _audit_rows(api, 3)

    async def request_ids(**params: str) -> list[str]:
        data = (await api.ok("GET", "/admin/audit", params=params))["data"]
        return [r["request_id"] for r in data]

    assert await request_ids(request_id=sent[1]) == [sent[1]]
    assert await request_ids(alias="alias-f") == [sent[0], sent[2]]
    assert await request_ids(model="up-g") == [sent[1]]
    assert await request_ids(order="desc") == sent[::-1]
    page = await api.ok("GET", "/admin/audit", params={"order": "desc", "limit": "2"})
    assert page["next_after_id"] == rows[1]["id"]
    assert await request_ids(order="desc", after_id=str(page["next_after_id"])) == [sent[0]]
    assert await request_ids(session_id="none-such") == []
    assert all(r["session_id"] is None for r in rows)


@pytest.mark.parametrize(("params", "param"), [
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": "1e3"}, "limit"),
    ({"after_id": "-1"}, "after_id"),
    ({"after_id": "x"}, "after_id"),
    ({"api_key_id": "one"}, "api_key_id"),
    ({"status": "abc"}, "status"),
    ({"status": "99"}, "status"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2024-13-01"}, "until"),
    ({"since": "2024-02-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"}, "since"),
    ({"tenant": ""}, "tenant"),
    ({"sort": "desc"}, "sort"),
    ({"order": "newest"}, "order"),
    ({"request_id": "a\x00b"}, "request_id"),
])
async def test_bad_audit_queries_are_400(api: Api, params: dict[str, str], param: str) -> None:
    (await api.call("GET", "/admin/audit", params=params)).error(400, param=param)


async def test_audit_limit_1000_is_accepted(api: Api) -> None:
    reply = await api.ok("GET", "/admin/audit", params={"limit": "1000"})
    assert reply == {"object": "list", "data": [], "next_after_id": None}


async def _stored_ciphertexts(settings: Settings) -> list[str]:
    store = await open_store(settings.database_url)
    try:
        return [k.key_encrypted for k in await store.list_provider_keys()]
    finally:
        await store.aclose()


async def test_encryption_rotate_reencrypts_every_key_under_the_first(
    settings: Settings,
) -> None:
    old, new = settings.encryption_key, generate_fernet_key()
    async with serve(settings) as api:
        pid = (await api.provider("p"))["id"]
        await api.provider_key(pid, "sk-rotate-me-00000001")
        await api.provider_key(pid, "sk-rotate-me-00000002")
        assert (await api.ok("POST", "/admin/encryption/rotate"))["reencrypted"] == 2
    before = await _stored_ciphertexts(settings)

    only_new = settings.with_overrides(encryption_key=new)
    async with serve(only_new) as api:  # the old key is gone: rows cannot be read
        assert (await api.ok("GET", "/admin/health"))["providers"][0]["total_keys"] == 0
        err = (await api.call("POST", "/admin/encryption/rotate")).error(409)
        assert err["code"] == "decryption_failed"
    assert await _stored_ciphertexts(settings) == before  # nothing changed

    async with serve(settings.with_overrides(encryption_key=f"{new},{old}")) as api:
        assert await api.ok("POST", "/admin/encryption/rotate") == {
            "reencrypted": 2, "encryption_keys": 2}
    after = await _stored_ciphertexts(settings)
    assert len(after) == 2 and not set(after) & set(before)

    async with serve(only_new) as api:
        entry = (await api.ok("GET", "/admin/health"))["providers"][0]
        assert (entry["healthy_keys"], entry["total_keys"]) == (2, 2)
        assert sorted(k["key_masked"] for k in entry["keys"]) == ["****0001", "****0002"]
