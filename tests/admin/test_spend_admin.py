"""Tenants, client-key budgets and enabling, ``/admin/usage`` and ``/admin/prices``,
against the real app on both stores."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.admin.conftest import Api

pytestmark = pytest.mark.timeout(60)


async def _audit(api: Api, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        rows = (await api.ok("GET", "/admin/audit", params={"limit": "1000"}))["data"]
        if len(rows) >= count or time.monotonic() > deadline:
            return list(rows)
        await asyncio.sleep(0.1)


async def test_tenant_crud(api: Api) -> None:
    created = await api.ok("POST", "/admin/tenants", {"name": "acme", "rpm_limit": 10,
                                                     "budget_usd": 5}, status=201)
    assert {k: created[k] for k in ("name", "rpm_limit", "tpm_limit", "budget_usd",
                                    "budget_period", "spend_usd")} == {
        "name": "acme", "rpm_limit": 10, "tpm_limit": None, "budget_usd": 5.0,
        "budget_period": "month", "spend_usd": 0.0}
    (await api.call("POST", "/admin/tenants", {"name": "acme"})).error(409, param="name")
    for bad in ({"name": "x", "budget_usd": -1}, {"name": "x", "budget_period": "week"},
                {"name": "x", "rpm_limit": "1"}, {"name": "x", "colour": 1}, {}):
        assert (await api.call("POST", "/admin/tenants", bad)).status == 400, bad
    patched = await api.ok("PATCH", f"/admin/tenants/{created['id']}",
                           {"budget_period": "day", "budget_usd": None})
    assert (patched["budget_period"], patched["budget_usd"]) == ("day", None)
    assert await api.ok("GET", f"/admin/tenants/{created['id']}") == patched
    assert [t["name"] for t in (await api.ok("GET", "/admin/tenants"))["data"]] == ["acme"]
    (await api.call("PATCH", "/admin/tenants/999", {"rpm_limit": 1})).error(404)
    assert (await api.ok("DELETE", f"/admin/tenants/{created['id']}"))["deleted"] is True
    (await api.call("GET", f"/admin/tenants/{created['id']}")).error(404)


async def test_disabled_key_gets_401_until_enabled(api: Api) -> None:
    provider = await api.provider("mock-a")
    await api.mapping("m", provider["id"])
    created = await api.client_key("team", budget_usd=1.5, budget_period="day")
    assert (created["budget_usd"], created["budget_period"], created["enabled"],
            created["spend_usd"]) == (1.5, "day", True, 0.0)
    key = created["key"]
    assert (await api.chat("m", key)).status == 200
    off = await api.ok("PATCH", f"/admin/api-keys/{created['id']}", {"enabled": False})
    assert off["enabled"] is False and "key" not in off
    err = (await api.chat("m", key)).error(401)
    assert err["code"] == "api_key_disabled"
    await api.ok("PATCH", f"/admin/api-keys/{created['id']}", {"enabled": True})
    assert (await api.chat("m", key)).status == 200
    for bad in ({"budget_usd": "1"}, {"budget_period": "year"}, {"enabled": 1},
                {"key_hash": "x"}):
        assert (await api.call("PATCH", f"/admin/api-keys/{created['id']}", bad)).status == 400
    (await api.call("PATCH", "/admin/api-keys/12345", {"enabled": True})).error(404)


async def test_budget_refuses_before_any_upstream_and_spend_is_reported(api: Api) -> None:
    provider = await api.provider("mock-a")
    # $1000 per MTok of output: max_tokens 1000 → at most $1 of output per request
    await api.mapping("m", provider["id"], model="gpt-4o-mini",
                      config={"pricing": {"input_per_mtok": 0, "output_per_mtok": 1000}})
    await api.ok("POST", "/admin/tenants", {"name": "t", "budget_usd": 100}, status=201)
    created = await api.client_key("k", tenant="t", budget_usd=2.5)
    key = created["key"]
    body = {"model": "m", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}
    costs = []
    for _ in range(2):
        reply = await api.call("POST", "/v1/chat/completions", body, key=key)
        assert reply.status == 200, reply.text
        used = reply.json["usage"]["completion_tokens"]
        assert float(reply.headers["x-proxy-cost-usd"]) == pytest.approx(used * 0.001)
        costs.append(used * 0.001)
    # spent ≈ 2 × a few tokens: far below $2.5, yet a third $1 worst case fits, a $3 one not
    big = {**body, "max_tokens": 3000}
    err = (await api.call("POST", "/v1/chat/completions", big, key=key)).error(429)
    assert (err["type"], err["code"]) == ("insufficient_quota", "budget_exceeded")
    rows = await _audit(api, 3)
    refused = [r for r in rows if r["status"] == 429]
    assert len(refused) == 1 and refused[0]["attempts"] == 0 and refused[0]["provider"] is None
    answered = [r for r in rows if r["status"] == 200]
    assert sorted(r["cost_usd"] for r in answered) == pytest.approx(sorted(costs))
    got = await api.ok("GET", f"/admin/api-keys/{created['id']}")
    assert got["spend_usd"] == pytest.approx(sum(costs))
    tenant = (await api.ok("GET", "/admin/tenants"))["data"][0]
    assert tenant["spend_usd"] == pytest.approx(sum(costs))


async def test_usage_grouped_each_way_equals_the_audit_records(api: Api) -> None:
    a, b = await api.provider("mock-a"), await api.provider("mock-b")
    await api.mapping("m1", a["id"], model="gpt-4o-mini")
    await api.mapping("m2", b["id"], model="gpt-4o")
    keys = [(await api.client_key(f"k{i}", tenant=t))["key"]
            for i, t in enumerate(["x", "x", None])]
    sent = 0
    for i in range(9):
        reply = await api.chat(["m1", "m2"][i % 2], keys[i % 3])
        assert reply.status == 200
        sent += 1
    await api.chat("nope", keys[0])  # a 404, still audited and counted
    rows = await _audit(api, sent + 1)
    assert len(rows) == sent + 1
    fields = {"api_key": "api_key_id", "tenant": "tenant", "alias": "alias",
              "provider": "provider", "model": "upstream_model", "day": "created_at"}
    for group_by, field in fields.items():
        expected: dict[Any, list[Any]] = {}
        for r in rows:
            k = r[field][:10] if group_by == "day" else r[field]
            e = expected.setdefault(k, [0, 0, 0, 0.0])
            e[0] += 1
            e[1] += r["prompt_tokens"] or 0
            e[2] += r["completion_tokens"] or 0
            e[3] += r["cost_usd"] or 0.0
        data = (await api.ok("GET", "/admin/usage", params={"group_by": group_by}))["data"]
        got = {d[group_by]: [d["requests"], d["input_tokens"], d["output_tokens"],
                             d["cost_usd"]] for d in data}
        assert got.keys() == expected.keys(), group_by
        for k, v in expected.items():
            assert got[k][:3] == v[:3] and got[k][3] == pytest.approx(v[3], abs=1e-9), group_by
    ranged = await api.ok("GET", "/admin/usage", params={
        "group_by": "provider", "start": "2000-01-01T00:00:00Z", "end": "2000-01-02"})
    assert ranged["data"] == []


@pytest.mark.parametrize("params", [
    {}, {"group_by": "colour"}, {"group_by": "day", "start": "yesterday"},
    {"group_by": "day", "start": "2030-01-02", "end": "2030-01-01"},
    {"group_by": "day", "limit": "3"}])
async def test_usage_bad_parameters_are_400(api: Api, params: dict[str, str]) -> None:
    assert (await api.call("GET", "/admin/usage", params=params)).status == 400


async def test_prices_table_and_pricing_validation(api: Api) -> None:
    provider = await api.provider("mock-a")
    await api.mapping("builtin", provider["id"], model="gpt-4o-mini")
    await api.mapping("override", provider["id"], model="gpt-4o-mini",
                      config={"pricing": {"input_per_mtok": 1, "output_per_mtok": 2,
                                          "cache_write_per_mtok": 1.25}})
    await api.mapping("local", provider["id"], model="my-own-model")
    bad = await api.call("POST", "/admin/mappings", {
        "alias_name": "x", "provider_id": provider["id"], "provider_model_name": "m",
        "config": {"pricing": {"input_per_mtok": -1, "output_per_mtok": 1}}})
    bad.error(400, param="config.pricing")
    for hostile in ("lots", -1, True, [1], {"x": 1}, 1e308):
        bad = await api.call("POST", "/admin/mappings", {
            "alias_name": "x", "provider_id": provider["id"], "provider_model_name": "m",
            "config": {"pricing": {"input_per_mtok": 1, "output_per_mtok": 1,
                                   "cache_write_per_mtok": hostile}}})
        bad.error(400, param="config.pricing")
    data = {d["alias"]: d for d in (await api.ok("GET", "/admin/prices"))["data"]}
    assert data["builtin"]["source"] == "builtin"
    assert (data["builtin"]["input_per_mtok"], data["builtin"]["output_per_mtok"],
            data["builtin"]["cached_input_per_mtok"]) == (0.15, 0.6, 0.075)
    assert (data["override"]["source"], data["override"]["input_per_mtok"],
            data["override"]["output_per_mtok"], data["override"]["cached_input_per_mtok"],
            data["override"]["cache_write_per_mtok"]) == ("mapping", 1.0, 2.0, 1.0, 1.25)
    assert data["local"]["source"] == "unpriced"


async def test_a_tenants_own_rate_limit_applies_to_its_keys(api: Api) -> None:
    provider = await api.provider("mock-a")
    await api.mapping("m", provider["id"])
    tenant = await api.ok("POST", "/admin/tenants", {"name": "small", "rpm_limit": 3},
                          status=201)
    keys = [(await api.client_key(f"k{i}", tenant="small"))["key"] for i in range(2)]
    other = (await api.client_key("free", tenant="big"))["key"]
    statuses = [(await api.chat("m", keys[i % 2])).status for i in range(4)]
    assert statuses == [200, 200, 200, 429]  # three per minute for the whole tenant
    assert (await api.chat("m", other)).status == 200
    await api.ok("PATCH", f"/admin/tenants/{tenant['id']}", {"rpm_limit": None})
    assert (await api.chat("m", keys[0])).status == 200  # back to the global default (off)
