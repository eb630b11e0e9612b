"""``/admin/mappings``: CRUD, order_index rules, references, validation."""

from __future__ import annotations

import pytest

from tests.admin.conftest import Api

pytestmark = pytest.mark.timeout(60)


async def test_create_get_list_patch_delete(api: Api) -> None:
    p1, p2 = await api.provider("one"), await api.provider("two")
    created = await api.ok("POST", "/admin/mappings", {
        "alias_name": "smart", "provider_id": p1["id"], "provider_model_name": "gpt-4o",
        "order_index": 0, "is_default": True, "config": {"temperature": 0.2},
    }, status=201)
    assert {k: created[k] for k in ("alias_name", "provider_id", "provider_model_name",
                                    "order_index", "is_default", "config")} == {
        "alias_name": "smart", "provider_id": p1["id"], "provider_model_name": "gpt-4o",
        "order_index": 0, "is_default": True, "config": {"temperature": 0.2}}
    mid = created["id"]
    assert await api.ok("GET", f"/admin/mappings/{mid}") == created
    assert (await api.ok("GET", "/admin/mappings"))["data"] == [created]
    patched = await api.ok("PATCH", f"/admin/mappings/{mid}", {
        "provider_id": p2["id"], "provider_model_name": "other", "is_default": False,
        "config": {}})
    assert (patched["provider_id"], patched["provider_model_name"]) == (p2["id"], "other")
    assert patched["is_default"] is False and patched["config"] == {}
    assert await api.ok("DELETE", f"/admin/mappings/{mid}") == {"id": mid, "deleted": True}
    (await api.call("GET", f"/admin/mappings/{mid}")).error(404)
    (await api.call("PATCH", f"/admin/mappings/{mid}", {"order_index": 1})).error(404)
    (await api.call("DELETE", f"/admin/mappings/{mid}")).error(404)


async def test_order_index_defaults_to_the_end_of_the_chain(api: Api) -> None:
    pid = (await api.provider())["id"]
    first = await api.mapping("chain", pid)
    second = await api.mapping("chain", pid)
    other = await api.mapping("other", pid)
    assert (first["order_index"], second["order_index"], other["order_index"]) == (0, 1, 0)
    assert first["is_default"] is False and first["config"] == {}


async def test_same_member_twice_in_a_group_is_409_on_create_and_patch(api: Api) -> None:
    pid = (await api.provider())["id"]
    await api.mapping("a", pid, order_index=0, model="m")
    second = await api.mapping("a", pid, order_index=1, model="m")
    (await api.call("POST", "/admin/mappings", {
        "alias_name": "a", "provider_id": pid, "provider_model_name": "m", "order_index": 0,
    })).error(409, param="order_index")
    (await api.call("PATCH", f"/admin/mappings/{second['id']}", {"order_index": 0})
     ).error(409, param="order_index")
    moved = await api.mapping("b", pid, order_index=0, model="m")
    (await api.call("PATCH", f"/admin/mappings/{moved['id']}", {"alias_name": "a"})
     ).error(409, param="order_index")
    assert len((await api.ok("GET", "/admin/mappings"))["data"]) == 3


async def test_mappings_sharing_an_order_index_form_a_group(api: Api) -> None:
    pid = (await api.provider())["id"]
    first = await api.mapping("g", pid, order_index=0, model="m1")
    second = await api.mapping("g", pid, order_index=0, model="m2", config={"weight": 3})
    assert (first["order_index"], second["order_index"]) == (0, 0)
    assert second["config"] == {"weight": 3}


async def test_a_missing_provider_is_400_on_create_and_patch(api: Api) -> None:
    pid = (await api.provider())["id"]
    (await api.call("POST", "/admin/mappings", {
        "alias_name": "a", "provider_id": pid + 100, "provider_model_name": "m"})
     ).error(400, param="provider_id")
    mid = (await api.mapping("a", pid))["id"]
    (await api.call("PATCH", f"/admin/mappings/{mid}", {"provider_id": pid + 100})
     ).error(400, param="provider_id")
    assert (await api.ok("GET", f"/admin/mappings/{mid}"))["provider_id"] == pid


@pytest.mark.parametrize(("change", "param"), [
    ({"alias_name": None}, "alias_name"),
    ({"alias_name": ""}, "alias_name"),
    ({"alias_name": "x" * 257}, "alias_name"),
    ({"provider_id": "1"}, "provider_id"),
    ({"provider_id": True}, "provider_id"),
    ({"provider_model_name": ["m"]}, "provider_model_name"),
    ({"order_index": -1}, "order_index"),
    ({"order_index": 1.5}, "order_index"),
    ({"order_index": "2"}, "order_index"),
    ({"is_default": "true"}, "is_default"),
    ({"is_default": 1}, "is_default"),
    ({"config": [1]}, "config"),
    ({"config": "x"}, "config"),
    ({"config": {"weight": 0}}, "config.weight"),
    ({"config": {"weight": "2"}}, "config.weight"),
    ({"config": {"weight": True}}, "config.weight"),
    ({"config": {"hedge_after_ms": 1.5}}, "config.hedge_after_ms"),
    ({"config": {"hedge_after_ms": -5}}, "config.hedge_after_ms"),
    ({"config": {"cache_ttl": 0}}, "config.cache_ttl"),
    ({"config": {"cache_ttl": "60"}}, "config.cache_ttl"),
    ({"fallbacks": ["a"]}, "fallbacks"),
])
async def test_invalid_mapping_fields_are_400(
    api: Api, change: dict[str, object], param: str
) -> None:
    pid = (await api.provider())["id"]
    body = {"alias_name": "a", "provider_id": pid, "provider_model_name": "m", **change}
    (await api.call("POST", "/admin/mappings", body)).error(400, param=param)
    mid = (await api.mapping("z", pid))["id"]
    (await api.call("PATCH", f"/admin/mappings/{mid}", change)).error(400, param=param)
    assert [m["alias_name"] for m in (await api.ok("GET", "/admin/mappings"))["data"]] == ["z"]


@pytest.mark.parametrize("missing", ["alias_name", "provider_id", "provider_model_name"])
async def test_required_mapping_fields(api: Api, missing: str) -> None:
    pid = (await api.provider())["id"]
    body = {"alias_name": "a", "provider_id": pid, "provider_model_name": "m"}
    del body[missing]
    err = (await api.call("POST", "/admin/mappings", body)).error(400, param=missing)
    assert err["code"] == "missing_required_parameter"
