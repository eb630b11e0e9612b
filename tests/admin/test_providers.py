"""``/admin/providers``: CRUD, validation, 404 / 409, the cascade on delete."""

from __future__ import annotations

import pytest

from proxy.config import Settings
from proxy.crypto import KeyRing
from proxy.header_secrets import open_headers
from proxy.store import open_store
from tests.admin.conftest import Api

pytestmark = pytest.mark.timeout(60)

BAD_IDS = ["999", "0", "abc", "-1", "1.5", "99999999999999999999999"]


async def test_create_get_list_patch_delete(api: Api) -> None:
    created = await api.ok("POST", "/admin/providers", {
        "name": "up-1", "provider_type": "openai", "base_url": "http://127.0.0.1:9/v1/",
        "config": {"timeout": 30, "max_retries": 0, "options": {"a": [1]}},
        "enabled": False,
    }, status=201)
    assert created["name"] == "up-1" and created["provider_type"] == "openai"
    assert created["base_url"] == "http://127.0.0.1:9/v1"  # normalised
    assert created["config"] == {"timeout": 30, "max_retries": 0, "options": {"a": [1]}}
    assert created["enabled"] is False
    assert created["created_at"].endswith("Z") and isinstance(created["id"], int)
    pid = created["id"]
    assert await api.ok("GET", f"/admin/providers/{pid}") == created
    assert (await api.ok("GET", "/admin/providers"))["data"] == [created]

    patched = await api.ok("PATCH", f"/admin/providers/{pid}",
                           {"name": "up-2", "enabled": True, "config": {"timeout": 5}})
    assert patched["name"] == "up-2" and patched["enabled"] is True
    assert patched["config"] == {"timeout": 5}  # replaced, not merged
    assert patched["base_url"] == created["base_url"]
    assert await api.ok("GET", f"/admin/providers/{pid}") == patched
    assert await api.ok("PATCH", f"/admin/providers/{pid}", {}) == patched

    assert await api.ok("DELETE", f"/admin/providers/{pid}") == {
        "id": pid, "deleted": True, "deleted_keys": 0, "deleted_mappings": 0}
    (await api.call("GET", f"/admin/providers/{pid}")).error(404, param="id")
    (await api.call("DELETE", f"/admin/providers/{pid}")).error(404)


async def test_mock_provider_needs_no_base_url_and_defaults_apply(api: Api) -> None:
    created = await api.provider("m")
    assert created["base_url"] == "mock://" and created["enabled"] is True
    assert created["config"] == {}


async def test_deleting_a_provider_cascades_to_its_keys_and_mappings(api: Api) -> None:
    doomed, kept = await api.provider("doomed"), await api.provider("kept")
    await api.provider_key(doomed["id"], "sk-doomed-0000000001")
    await api.provider_key(doomed["id"], "sk-doomed-0000000002")
    await api.provider_key(kept["id"], "sk-kept-000000000003")
    await api.mapping("a", doomed["id"])
    await api.mapping("a", kept["id"])
    await api.mapping("b", doomed["id"])
    reply = await api.ok("DELETE", f"/admin/providers/{doomed['id']}")
    assert reply == {"id": doomed["id"], "deleted": True, "deleted_keys": 2,
                     "deleted_mappings": 2}
    keys = (await api.ok("GET", "/admin/keys"))["data"]
    assert [k["provider_id"] for k in keys] == [kept["id"]]
    mappings = (await api.ok("GET", "/admin/mappings"))["data"]
    assert [(m["alias_name"], m["provider_id"]) for m in mappings] == [("a", kept["id"])]
    names = [p["name"] for p in (await api.ok("GET", "/admin/health"))["providers"]]
    assert names == ["kept"]


async def test_duplicate_name_is_409_on_create_and_on_rename(api: Api) -> None:
    await api.provider("same")
    other = await api.provider("other")
    (await api.call("POST", "/admin/providers", {"name": "same", "provider_type": "mock"})
     ).error(409, param="name")
    (await api.call("PATCH", f"/admin/providers/{other['id']}", {"name": "same"})
     ).error(409, param="name")
    assert len((await api.ok("GET", "/admin/providers"))["data"]) == 2


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"provider_type": "mock"}, "name", "missing"),
    ({"name": 5, "provider_type": "mock"}, "name", "string"),
    ({"name": "a/b", "provider_type": "mock"}, "name", "letters"),
    ({"name": "", "provider_type": "mock"}, "name", ""),
    ({"name": "x" * 101, "provider_type": "mock"}, "name", ""),
    ({"name": "p"}, "provider_type", "missing"),
    ({"name": "p", "provider_type": "azure"}, "provider_type", "one of"),
    ({"name": "p", "provider_type": "openai"}, "base_url", "required"),
    ({"name": "p", "provider_type": "openai", "base_url": "ftp://x/v1"}, "base_url", "http"),
    ({"name": "p", "provider_type": "custom", "base_url": "http://u:pw@h/v1"}, "base_url",
     "credentials"),
    ({"name": "p", "provider_type": "ollama", "base_url": "http://h?x=1"}, "base_url", "query"),
    ({"name": "p", "provider_type": "anthropic", "base_url": 7}, "base_url", "string"),
    ({"name": "p", "provider_type": "openai", "base_url": "http://h/\nv1"}, "base_url",
     "control"),
    ({"name": "p", "provider_type": "mock", "config": []}, "config", "object"),
    ({"name": "p", "provider_type": "mock", "config": {"timeout": -1}}, "config.timeout", ">"),
    ({"name": "p", "provider_type": "mock", "config": {"max_retries": "2"}},
     "config.max_retries", "integer"),
    ({"name": "p", "provider_type": "mock", "config": {"stream_resume": 1}},
     "config.stream_resume", "boolean"),
    ({"name": "p", "provider_type": "mock", "config": {"headers": {"a": 1}}},
     "config.headers", "string"),
    ({"name": "p", "provider_type": "mock", "config": {"max_concurrency": 10**9}},
     "config.max_concurrency", "<="),
    ({"name": "p", "provider_type": "mock", "config": {"timeout": 1e300}}, "config.timeout",
     "<="),
    ({"name": "p", "provider_type": "mock", "enabled": "yes"}, "enabled", "boolean"),
    ({"name": "p", "provider_type": "mock", "id": 3}, "id", "Unknown"),
    ({"name": "p", "provider_type": "mock", "colour": "red"}, "colour", "colour"),
])
async def test_invalid_provider_bodies_are_400_naming_the_field(
    api: Api, body: dict[str, object], param: str, words: str
) -> None:
    err = (await api.call("POST", "/admin/providers", body)).error(400, param=param)
    assert words.lower() in err["message"].lower()
    assert err["type"] == "invalid_request_error"
    assert (await api.ok("GET", "/admin/providers"))["data"] == []


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]", b"null", b'"text"'])
async def test_bodies_that_are_not_json_objects_are_400(api: Api, raw: bytes) -> None:
    (await api.call("POST", "/admin/providers", raw=raw)).error(400)


async def test_patch_validates_like_create(api: Api) -> None:
    pid = (await api.provider("m"))["id"]
    # a new type is checked against the stored base_url ("mock://" is no http URL)
    (await api.call("PATCH", f"/admin/providers/{pid}", {"provider_type": "openai"})
     ).error(400, param="base_url")
    (await api.call("PATCH", f"/admin/providers/{pid}", {"config": {"queue_size": 0}})
     ).error(400, param="config.queue_size")
    (await api.call("PATCH", f"/admin/providers/{pid}", {"nope": 1})).error(400, param="nope")
    changed = await api.ok("PATCH", f"/admin/providers/{pid}", {
        "provider_type": "anthropic", "base_url": "https://api.anthropic.com/"})
    assert changed["provider_type"] == "anthropic"
    assert changed["base_url"] == "https://api.anthropic.com"


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_ids_that_do_not_exist_or_are_not_integers_are_404(api: Api, bad: str) -> None:
    for method, body in (("GET", None), ("PATCH", {"enabled": True}), ("DELETE", None)):
        reply = await api.call(method, f"/admin/providers/{bad}", *(() if body is None else (body,)))
        reply.error(404)


async def test_headers_are_secrets_encrypted_masked_and_kept_when_sent_back_masked(
    api: Api, settings: Settings
) -> None:
    secret = "azure-header-secret-value-9876"
    created = await api.provider("az", config={"headers": {"api-key": secret, "x-team": "blue"}})
    assert created["config"]["headers"] == {"api-key": "****9876", "x-team": "****"}
    assert secret not in api.seen[-1]
    # an operator edits another field and sends the config back as shown
    shown = created["config"]
    patched = await api.ok("PATCH", f"/admin/providers/{created['id']}",
                           {"config": {**shown, "timeout": 9}})
    assert patched["config"]["headers"] == {"api-key": "****9876", "x-team": "****"}
    assert patched["config"]["timeout"] == 9
    listed = await api.ok("GET", "/admin/providers")
    assert secret not in api.seen[-1] and "blue" not in api.seen[-1]
    assert listed["data"][0]["config"]["headers"]["api-key"] == "****9876"
    store = await open_store(settings.database_url)
    try:
        row = await store.get_provider(created["id"])
    finally:
        await store.aclose()
    assert row is not None
    assert row.config == {"timeout": 9}  # the headers are not in the stored config ...
    assert row.headers_encrypted and secret not in row.headers_encrypted
    assert settings.encryption_key is not None
    keyring = KeyRing.parse(settings.encryption_key)  # ... but encrypted beside it
    assert open_headers(keyring, row.headers_encrypted) == {"api-key": secret, "x-team": "blue"}
    # a config without headers removes them (config is replaced as a whole)
    cleared = await api.ok("PATCH", f"/admin/providers/{created['id']}", {"config": {}})
    assert "headers" not in cleared["config"]
