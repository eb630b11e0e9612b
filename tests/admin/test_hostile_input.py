"""Nothing a client sends to the admin API makes a 5xx or corrupts what is stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.admin.conftest import Api

pytestmark = pytest.mark.timeout(60)

ODD_VALUES: list[Any] = [
    None, True, 0, -1, 2**63, 2**64 - 1, -(2**63), 1e308, "", " ", "a\x00b", "\u202e",
    "名前", "x" * 5000, [], [None], {}, {"\x00": "\x00"}, {"a": {"b": {"c": [1, "2", None]}}},
]
ENDPOINTS: dict[str, list[str]] = {
    "/admin/providers": ["name", "provider_type", "base_url", "config", "enabled"],
    "/admin/mappings": ["alias_name", "provider_id", "provider_model_name", "order_index",
                        "is_default", "config"],
    "/admin/api-keys": ["name", "tenant", "is_admin", "rpm_limit", "tpm_limit",
                        "allowed_models", "expires_at"],
    "/admin/keys": ["provider_id", "name", "key"],
}
VALID: dict[str, dict[str, Any]] = {
    "/admin/providers": {"name": "ok", "provider_type": "mock"},
    "/admin/mappings": {"alias_name": "a", "provider_id": 1, "provider_model_name": "m"},
    "/admin/api-keys": {"name": "n"},
    "/admin/keys": {"provider_id": 1, "name": "k", "key": "sk-0123456789"},
}


async def test_odd_values_in_every_field_never_give_a_5xx(api: Api) -> None:
    base = await api.provider("base")
    assert base["id"] == 1
    for path, names in ENDPOINTS.items():
        for name in names:
            for value in ODD_VALUES:
                body = {**VALID[path], name: value}
                reply = await api.call("POST", path, body)
                assert reply.status in (201, 400, 409), (path, name, value, reply.text)
                if reply.status == 201:  # accepted: must read back exactly as stored
                    created = reply.json
                    listed = (await api.ok("GET", path))["data"]
                    assert created["id"] in [row["id"] for row in listed]
                    delete = created["id"] if path != "/admin/providers" or created["id"] != 1 \
                        else None
                    if delete is not None:
                        await api.ok("DELETE", f"{path}/{delete}")
    for patch_path in ("/admin/providers/1", "/admin/mappings/1"):
        for value in ODD_VALUES:
            reply = await api.call("PATCH", patch_path, {"config": value})
            assert reply.status in (200, 400, 404), (patch_path, value, reply.text)
    health = await api.ok("GET", "/admin/health")
    assert health["status"] == "ok" and health["providers"][0]["name"] == "base"


@pytest.mark.parametrize("raw", [
    b"[" * 5000 + b"]" * 5000,
    b'{"name": "a", "name": "b", "provider_type": "mock", "provider_type": 3}',
    b"\xff\xfe{}",
    b'{"name": "\\ud800", "provider_type": "mock"}',
])
async def test_malformed_json_is_400(api: Api, raw: bytes) -> None:
    (await api.call("POST", "/admin/providers", raw=raw)).error(400)
    assert (await api.ok("GET", "/admin/providers"))["data"] == []


async def test_a_body_over_the_size_limit_is_413(api: Api) -> None:
    big = b'{"name": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    (await api.call("POST", "/admin/api-keys", raw=big)).error(413)
