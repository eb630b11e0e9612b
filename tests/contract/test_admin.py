"""PRODUCT.md "Admin API": every row's fields, list shape, masking, 409 on a name clash,
/admin/usage group_by values and their 400s, /admin/prices, /admin/audit filters and
order=desc, /admin/encryption/rotate."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.harness import ProxyProcess

from .conftest import DEMO_KEY

pytestmark = pytest.mark.timeout(60)

PROVIDER_CONFIG = {
    "timeout": 30, "connect_timeout": 2, "first_token_timeout": 10, "idle_timeout": 10,
    "max_retries": 1, "max_retry_wait": 3, "max_concurrency": 8, "queue_size": 16,
    "failure_threshold": 4, "recovery_timeout": 10, "stream_resume": False,
    "supports_prefill": True, "headers": {"X-Org-Secret": "org-secret-value-7777"},
}
API_KEY_FIELDS = {"name", "tenant", "is_admin", "rpm_limit", "tpm_limit", "allowed_models",
                  "expires_at", "budget_usd", "budget_period", "enabled", "spend_usd"}


def ok(resp: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert resp.status_code == status, (resp.request.url, resp.status_code, resp.text)
    body = resp.json()
    assert isinstance(body, dict)
    return body


def listed(resp: httpx.Response) -> list[dict[str, Any]]:
    data = ok(resp)["data"]
    assert isinstance(data, list)
    return data


def test_providers_and_keys_rows(demo: ProxyProcess) -> None:
    http = demo.admin.http
    created = ok(http.post("/admin/providers", json={
        "name": "rows-openai", "provider_type": "openai", "base_url": "http://127.0.0.1:9/v1",
        "config": PROVIDER_CONFIG, "enabled": True}), 201)
    assert isinstance(created["id"], int)
    config = created["config"]
    for name, value in PROVIDER_CONFIG.items():
        if name != "headers":
            assert config[name] == value, name
    assert "org-secret-value" not in str(created) and config["headers"]["X-Org-Secret"].endswith(
        "7777")
    clash = http.post("/admin/providers", json={"name": "rows-openai", "provider_type": "mock"})
    assert clash.status_code == 409 and clash.json()["error"]["type"]
    assert any(p["name"] == "rows-openai" for p in listed(http.get("/admin/providers")))
    key = ok(http.post("/admin/keys", json={"provider_id": created["id"], "name": "k",
                                            "key": "sk-row-secret-abcd1234"}), 201)
    assert key["key_masked"].endswith("1234") and "key" not in key
    assert key["healthy"] is True
    rotated = ok(http.post(f"/admin/keys/{key['id']}/rotate", json={"key": "sk-row-new-wxyz"}))
    assert rotated["key_masked"].endswith("wxyz")
    rows = listed(http.get("/admin/keys"))
    assert all("sk-row" not in str(row) for row in rows)
    assert ok(http.delete(f"/admin/keys/{key['id']}"))
    assert ok(http.delete(f"/admin/providers/{created['id']}"))


def test_client_keys_and_tenants_rows(demo: ProxyProcess) -> None:
    http = demo.admin.http
    tenant = ok(http.post("/admin/tenants", json={"name": "rows-t", "rpm_limit": 100,
                                                  "tpm_limit": 1000, "budget_usd": 10,
                                                  "budget_period": "day"}), 201)
    assert {"name", "rpm_limit", "tpm_limit", "budget_usd", "budget_period",
            "spend_usd"} <= set(tenant)
    assert http.post("/admin/tenants", json={"name": "rows-t"}).status_code == 409
    assert ok(http.get(f"/admin/tenants/{tenant['id']}"))["name"] == "rows-t"
    created = ok(http.post("/admin/api-keys", json={
        "name": "rows-k", "tenant": "rows-t", "rpm_limit": 10, "tpm_limit": 100,
        "allowed_models": ["gpt-3.5-turbo"], "expires_at": "2099-01-01T00:00:00Z",
        "budget_usd": 1.5, "budget_period": "total"}), 201)
    assert API_KEY_FIELDS <= set(created) and isinstance(created["key"], str)
    read = ok(http.get(f"/admin/api-keys/{created['id']}"))
    assert API_KEY_FIELDS <= set(read) and "key" not in read
    assert created["key"] not in str(listed(http.get("/admin/api-keys")))
    assert ok(http.patch(f"/admin/api-keys/{created['id']}", json={"enabled": False}))[
        "enabled"] is False
    refused = httpx.get(demo.url + "/v1/models", timeout=10,
                        headers={"Authorization": f"Bearer {created['key']}"})
    assert refused.status_code == 401
    ok(http.patch(f"/admin/api-keys/{created['id']}", json={"enabled": True}))
    back = httpx.get(demo.url + "/v1/models", timeout=10,
                     headers={"Authorization": f"Bearer {created['key']}"})
    assert back.status_code == 200 and [m["id"] for m in back.json()["data"]] == ["gpt-3.5-turbo"]


def test_usage_prices_audit_and_rotation(demo: ProxyProcess) -> None:
    http = demo.admin.http
    resp = httpx.post(demo.url + "/v1/chat/completions", timeout=20,
                      headers={"Authorization": f"Bearer {DEMO_KEY}", "x-request-id": "rows-1",
                               "X-Claude-Code-Session-Id": "sess-rows"},
                      json={"model": "gpt-3.5-turbo",
                            "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 200 and float(resp.headers["x-proxy-cost-usd"]) >= 0
    record = demo.admin.audit_record("rows-1")
    for field in ("created_at", "request_id", "api_key_id", "tenant", "alias", "provider",
                  "upstream_model", "status", "latency_ms", "prompt_tokens",
                  "completion_tokens", "cost_usd", "attempts", "fallback_reasons",
                  "session_id"):
        assert field in record, field
    assert record["session_id"] == "sess-rows"
    for group in ("api_key", "tenant", "alias", "provider", "model", "day"):
        rows = listed(http.get("/admin/usage", params={"group_by": group}))
        assert rows and {group, "requests", "input_tokens", "output_tokens",
                         "cost_usd"} <= set(rows[0]), group
    for bad in ({"group_by": "week"}, {}, {"group_by": "day", "start": "yesterday"}):
        assert http.get("/admin/usage", params=bad).status_code == 400, bad
    prices = listed(http.get("/admin/prices"))
    assert any(p["model"] == "gpt-3.5-turbo" and p["input_per_mtok"] > 0 for p in prices)
    for name, value in (("request_id", "rows-1"), ("api_key_id", record["api_key_id"]),
                        ("tenant", "demo"), ("alias", "gpt-3.5-turbo"),
                        ("model", "gpt-3.5-turbo"), ("provider", "mock"), ("status", 200),
                        ("session_id", "sess-rows"), ("since", "2000-01-01T00:00:00Z"),
                        ("until", "2999-01-01T00:00:00Z")):
        rows = listed(http.get("/admin/audit", params={name: value, "limit": 1000}))
        assert any(r["request_id"] == "rows-1" for r in rows), name
    time.sleep(0.2)
    newest = listed(http.get("/admin/audit", params={"order": "desc", "limit": 5}))
    assert [r["id"] for r in newest] == sorted((r["id"] for r in newest), reverse=True)
    assert http.get("/admin/audit", params={"order": "sideways"}).status_code == 400
    rotated = ok(http.post("/admin/encryption/rotate"))
    assert rotated
