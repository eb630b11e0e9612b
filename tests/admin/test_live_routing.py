"""Changes made through the admin API route at once on this replica (no waiting)."""

from __future__ import annotations

import pytest

from tests.admin.conftest import Api

pytestmark = pytest.mark.timeout(60)


async def test_a_created_mapping_is_routed_at_once(api: Api) -> None:
    provider = await api.provider("fresh-mock")
    client = (await api.client_key("caller"))["key"]
    (await api.chat("brand-new", client)).error(404)
    await api.mapping("brand-new", provider["id"], model="upstream-model-x")
    reply = await api.chat("brand-new", client)
    assert reply.status == 200, reply.text
    assert reply.headers["x-proxy-provider"] == "fresh-mock"
    assert reply.json["model"] == "upstream-model-x"
    assert reply.json["choices"][0]["message"]["content"]


async def test_patches_and_deletes_take_effect_at_once(api: Api) -> None:
    first, second = await api.provider("first"), await api.provider("second")
    client = (await api.client_key())["key"]
    mapping = await api.mapping("m", first["id"])
    assert (await api.chat("m", client)).headers["x-proxy-provider"] == "first"

    await api.ok("PATCH", f"/admin/mappings/{mapping['id']}", {"provider_id": second["id"]})
    assert (await api.chat("m", client)).headers["x-proxy-provider"] == "second"

    await api.ok("PATCH", f"/admin/providers/{second['id']}", {"name": "renamed"})
    assert (await api.chat("m", client)).headers["x-proxy-provider"] == "renamed"

    await api.ok("DELETE", f"/admin/mappings/{mapping['id']}")
    (await api.chat("m", client)).error(404)


async def test_a_default_mapping_serves_unknown_models(api: Api) -> None:
    provider = await api.provider()
    client = (await api.client_key())["key"]
    (await api.chat("whatever-model", client)).error(404)
    await api.mapping("fallback", provider["id"], is_default=True)
    assert (await api.chat("whatever-model", client)).status == 200


async def test_deleting_a_provider_removes_its_routes_at_once(api: Api) -> None:
    provider = await api.provider()
    client = (await api.client_key())["key"]
    await api.mapping("m", provider["id"])
    assert (await api.chat("m", client)).status == 200
    await api.ok("DELETE", f"/admin/providers/{provider['id']}")
    assert (await api.chat("m", client)).status == 404
    assert (await api.ok("GET", "/v1/models", key=client))["data"] == []
