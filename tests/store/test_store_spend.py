"""The store's spend contract (tenants, client-key budgets, persisted spend, usage rollup),
on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from proxy.store import AuditRecord, Conflict, Store

pytestmark = pytest.mark.timeout(30)


async def _key(store: Store, key_hash: str = "h" * 64, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "name": "ci", "key_hash": key_hash, "key_prefix": "sk-proxy-abc", "tenant": "acme",
        "is_admin": False, "rpm_limit": None, "tpm_limit": None, "allowed_models": None,
        "expires_at": None,
    }
    fields.update(overrides)
    return await store.create_api_key(**fields)


async def test_tenant_crud_and_unique_name(store: Store) -> None:
    before = await store.config_version()
    tenant = await store.create_tenant(name="acme", rpm_limit=60, tpm_limit=None,
                                       budget_usd=12.5, budget_period="day")
    assert (tenant.name, tenant.rpm_limit, tenant.budget_usd, tenant.budget_period) == (
        "acme", 60, 12.5, "day")
    assert await store.config_version() > before
    with pytest.raises(Conflict):
        await store.create_tenant(name="acme", rpm_limit=None, tpm_limit=None,
                                  budget_usd=None, budget_period="month")
    updated = await store.update_tenant(tenant.id, budget_usd=None, tpm_limit=1000)
    assert updated is not None and updated.budget_usd is None and updated.tpm_limit == 1000
    other = await store.create_tenant(name="other", rpm_limit=None, tpm_limit=None,
                                      budget_usd=None, budget_period="total")
    with pytest.raises(Conflict):
        await store.update_tenant(other.id, name="acme")
    assert [t.name for t in (await store.load_config()).tenants] == ["acme", "other"]
    assert await store.delete_tenant(tenant.id) is True
    assert await store.get_tenant(tenant.id) is None
    assert await store.update_tenant(tenant.id, rpm_limit=1) is None


async def test_api_key_budget_fields_default_and_update(store: Store) -> None:
    row = await _key(store)
    assert (row.budget_usd, row.budget_period, row.enabled) == (None, "month", True)
    version = await store.config_version()
    updated = await store.update_api_key(row.id, budget_usd=3.25, budget_period="total",
                                         enabled=False, allowed_models=["a"], rpm_limit=5)
    assert updated is not None
    assert (updated.budget_usd, updated.budget_period, updated.enabled) == (3.25, "total", False)
    assert updated.allowed_models == ["a"] and updated.rpm_limit == 5
    assert await store.config_version() > version
    assert (await store.get_api_key(row.id)).enabled is False  # type: ignore[union-attr]
    assert await store.update_api_key(row.id + 100, enabled=True) is None
    with pytest.raises(TypeError):
        await store.update_api_key(row.id, key_hash="x")


async def test_spend_is_added_never_overwritten(store: Store) -> None:
    key = ("key", "7", "m:2030-01")
    assert await store.get_spend([key]) == {}
    await store.add_spend([(*key, 5), ("tenant", "acme", "total", 9)])
    await store.add_spend([(*key, 2**40)])
    got = await store.get_spend([key, ("tenant", "acme", "total"), ("key", "8", "total")])
    assert got == {key: 5 + 2**40, ("tenant", "acme", "total"): 9}


def _record(at: datetime, **fields: Any) -> AuditRecord:
    base: dict[str, Any] = {"created_at": at, "request_id": "r", "endpoint": "/v1/chat/completions",
                            "status": 200, "latency_ms": 1.0}
    base.update(fields)
    return AuditRecord(**base)


async def test_usage_from_rollup_and_edges_equals_audit(store: Store) -> None:
    t0 = datetime(2030, 1, 1, 22, 30, tzinfo=UTC)
    records = []
    for i in range(48):
        at = t0 + timedelta(minutes=97 * i)  # three days and more: whole days, hours, edges
        records.append(_record(
            at, api_key_id=1 + i % 2, tenant="a" if i % 3 else None, alias="gpt",
            provider="p" + str(i % 2), upstream_model="m", prompt_tokens=i, completion_tokens=2,
            cost_usd=round(0.000001 * (i + 1), 9)))
    await store.insert_audit(records)
    audited = await store.list_audit(limit=1000, after_id=None,
                                     filters=__import__("proxy.store", fromlist=["x"]).AuditFilter())
    assert audited[0].cost_usd == 0.000001
    for start, end in [(None, None), (t0 + timedelta(minutes=5), t0 + timedelta(hours=7, minutes=3)),
                       (t0 + timedelta(minutes=40), t0 + timedelta(minutes=50)),
                       (t0 + timedelta(minutes=5), t0 + timedelta(hours=70, minutes=3)),
                       (None, t0 + timedelta(hours=50, minutes=1)),
                       (t0 + timedelta(hours=26, minutes=59), None)]:
        inside = [r for r in records if (start is None or r.created_at >= start)
                  and (end is None or r.created_at < end)]
        for group_by, attr in [("api_key", "api_key_id"), ("tenant", "tenant"),
                               ("provider", "provider"), ("model", "upstream_model"),
                               ("alias", "alias"), ("day", None)]:
            rows = {r.key: r for r in await store.usage(group_by, start, end)}
            expected: dict[Any, list[int]] = {}
            for r in inside:
                k = r.created_at.date().isoformat() if attr is None else getattr(r, attr)
                e = expected.setdefault(k, [0, 0, 0, 0])
                e[0] += 1
                e[1] += r.prompt_tokens or 0
                e[2] += r.completion_tokens or 0
                e[3] += round((r.cost_usd or 0) * 1e9)
            got = {k: [v.requests, v.input_tokens, v.output_tokens, v.cost_nanos]
                   for k, v in rows.items()}
            assert got == expected, (group_by, start, end)
