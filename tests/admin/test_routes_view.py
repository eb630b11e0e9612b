"""``GET /admin/routes``: aliases → groups of members, with their settings and live load."""

from __future__ import annotations

import pytest

from tests.admin.conftest import Api

pytestmark = pytest.mark.timeout(60)


async def test_routes_show_groups_in_order_with_settings_and_load(api: Api) -> None:
    a, b = await api.provider("alpha"), await api.provider("beta")
    m1 = await api.mapping("smart", a["id"], order_index=0, model="x",
                           config={"weight": 2, "hedge_after_ms": 300})
    m2 = await api.mapping("smart", b["id"], order_index=0, model="y",
                           config={"cache_ttl": 60})
    m3 = await api.mapping("smart", b["id"], order_index=1, model="z")
    await api.mapping("other", a["id"], model="x")
    data = (await api.ok("GET", "/admin/routes"))["data"]
    assert [r["alias"] for r in data] == ["other", "smart"]
    smart = data[1]
    assert smart["cache_ttl"] == 60
    assert [g["order_index"] for g in smart["groups"]] == [0, 1]
    first, second = smart["groups"]
    assert [(m["mapping_id"], m["provider"], m["model"], m["weight"], m["hedge_after_ms"],
             m["cache_ttl"]) for m in first["members"]] == [
        (m1["id"], "alpha", "x", 2.0, 300, None), (m2["id"], "beta", "y", 1.0, None, 60)]
    assert [m["mapping_id"] for m in second["members"]] == [m3["id"]]
    for member in first["members"]:
        assert member["in_flight"] == 0 and member["queued"] == 0
        assert member["circuit"] in {"closed", "stopped"}
    one = (await api.ok("GET", "/admin/routes?alias=smart"))["data"]
    assert one == [smart]


async def test_unknown_alias_is_404_and_unknown_query_400(api: Api) -> None:
    (await api.call("GET", "/admin/routes?alias=nope")).error(404, param="alias")
    (await api.call("GET", "/admin/routes?colour=red")).error(400)
