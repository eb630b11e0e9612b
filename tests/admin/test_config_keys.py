"""Unknown keys in a provider's or a mapping's ``config`` are a 400 naming them (a typo
such as ``timeuot`` would otherwise be stored and ignored); known keys are type-checked;
mapping request defaults may be any OpenAI/Anthropic request parameter."""

from __future__ import annotations

import pytest

from tests.admin.conftest import Api

pytestmark = pytest.mark.timeout(60)


async def test_provider_config_typo_is_a_400_naming_it(api: Api) -> None:
    reply = await api.call("POST", "/admin/providers", {
        "name": "typo", "provider_type": "mock", "config": {"timeuot": 5, "timeout": 5}})
    error = reply.error(400, param="config.timeuot")
    assert "timeuot" in error["message"] and "timeout" in error["message"]
    assert error["code"] == "unknown_parameter"
    created = await api.provider("ok", config={"timeout": 5, "latency_ms": 1,
                                               "extra": {"anthropic_version": "2023-06-01"}})
    patch = await api.call("PATCH", f"/admin/providers/{created['id']}",
                           {"config": {"extra": {"bogus": 1}}})
    patch.error(400, param="config.bogus")
    (await api.call("PATCH", f"/admin/providers/{created['id']}",
                    {"config": {"latency_ms": "slow"}})).error(400, param="config.latency_ms")
    assert (await api.ok("GET", f"/admin/providers/{created['id']}"))["config"]["timeout"] == 5


async def test_mapping_config_accepts_request_parameters_and_its_own_keys_only(
    api: Api,
) -> None:
    pid = (await api.provider())["id"]
    good = {"temperature": 0.2, "max_tokens": 100, "top_k": 5, "stop_sequences": ["x"],
            "stream_resume": False, "weight": 2, "cache_ttl": 60}
    created = await api.mapping("m", pid, config=good)
    assert created["config"] == good
    bad = await api.call("POST", "/admin/mappings", {
        "alias_name": "m", "provider_id": pid, "provider_model_name": "x",
        "config": {"temprature": 0.2}})
    assert "temprature" in bad.error(400, param="config.temprature")["message"]
    (await api.call("PATCH", f"/admin/mappings/{created['id']}",
                    {"config": {"stream_resume": "yes"}})).error(400, param="config.stream_resume")
    (await api.call("PATCH", f"/admin/mappings/{created['id']}",
                    {"config": {"weight": 0}})).error(400, param="config.weight")
