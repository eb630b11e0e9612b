"""``/admin/keys``: write-only secrets, masked display, live health, rotation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.admin.conftest import Api

pytestmark = pytest.mark.timeout(60)

GOOD_KEY = "sk-upstream-good-key-0000GOOD"
BAD_KEY = "sk-upstream-revoked-key-0BAD"


class Upstream:
    """A tiny OpenAI-compatible server that accepts only ``GOOD_KEY``."""

    def __init__(self) -> None:
        self.seen_keys: list[str] = []

    async def chat(self, request: web.Request) -> web.Response:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.seen_keys.append(key)
        if key != GOOD_KEY:
            return web.json_response({"error": {"message": "Incorrect API key provided",
                                                "type": "invalid_request_error",
                                                "code": "invalid_api_key"}}, status=401)
        body = await request.json()
        return web.json_response({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1,
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "hi"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    fake = Upstream()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.chat)
    async with TestServer(app, host="127.0.0.1") as server:
        yield fake, str(server.make_url("/v1"))


async def test_create_list_get_delete_never_show_the_key(api: Api) -> None:
    p1, p2 = await api.provider("one"), await api.provider("two")
    created = await api.provider_key(p1["id"], "sk-live-abcdefgh1234", name="primary")
    assert "key" not in created
    assert created["key_masked"] == "****1234"
    assert created["healthy"] is True and created["health_source"] == "live"
    assert created["provider_id"] == p1["id"] and created["name"] == "primary"
    other = await api.provider_key(p2["id"], "sk-other-abcdefgh5678")
    assert await api.ok("GET", f"/admin/keys/{created['id']}") == created
    everything = (await api.ok("GET", "/admin/keys"))["data"]
    assert [k["id"] for k in everything] == [created["id"], other["id"]]
    only_two = (await api.ok("GET", "/admin/keys", params={"provider_id": str(p2["id"])}))
    assert [k["id"] for k in only_two["data"]] == [other["id"]]
    assert await api.ok("DELETE", f"/admin/keys/{created['id']}") == {
        "id": created["id"], "deleted": True}
    (await api.call("DELETE", f"/admin/keys/{created['id']}")).error(404)
    (await api.call("GET", f"/admin/keys/{created['id']}")).error(404)
    assert "sk-live-abcdefgh1234" not in "".join(api.seen)


async def test_short_keys_are_fully_masked(api: Api) -> None:
    pid = (await api.provider("p"))["id"]
    created = await api.provider_key(pid, "short")
    assert created["key_masked"] == "****"
    await api.ok("PATCH", f"/admin/providers/{pid}", {"enabled": False})
    stored = await api.ok("GET", f"/admin/keys/{created['id']}")
    assert stored["key_masked"] == "****" and stored["health_source"] == "stored"


@pytest.mark.parametrize(("body", "param"), [
    ({"name": "k", "key": "sk-0123456789"}, "provider_id"),
    ({"provider_id": 1, "key": "sk-0123456789"}, "name"),
    ({"provider_id": 1, "name": "k"}, "key"),
    ({"provider_id": "1", "name": "k", "key": "sk-0123456789"}, "provider_id"),
    ({"provider_id": 0, "name": "k", "key": "sk-0123456789"}, "provider_id"),
    ({"provider_id": 999, "name": "k", "key": "sk-0123456789"}, "provider_id"),
    ({"provider_id": 1, "name": "k", "key": 12345678}, "key"),
    ({"provider_id": 1, "name": "k", "key": ""}, "key"),
    ({"provider_id": 1, "name": "k", "key": " sk-0123456789"}, "key"),
    ({"provider_id": 1, "name": "k", "key": "sk-01234\n56789"}, "key"),
    ({"provider_id": 1, "name": "k", "key": "sk-0123456789", "healthy": False}, "healthy"),
])
async def test_invalid_key_bodies_are_400(
    api: Api, body: dict[str, object], param: str
) -> None:
    await api.provider("p")  # id 1
    (await api.call("POST", "/admin/keys", body)).error(400, param=param)
    assert (await api.ok("GET", "/admin/keys"))["data"] == []


async def test_list_filter_and_rotate_body_are_validated(api: Api) -> None:
    (await api.call("GET", "/admin/keys", params={"provider_id": "abc"})
     ).error(400, param="provider_id")
    (await api.call("GET", "/admin/keys", params={"provider": "1"})).error(400, param="provider")
    pid = (await api.provider("p"))["id"]
    kid = (await api.provider_key(pid, "sk-0123456789"))["id"]
    (await api.call("POST", f"/admin/keys/{kid}/rotate", {})).error(400, param="key")
    (await api.call("POST", f"/admin/keys/{kid}/rotate", {"key": "sk-new-0123456", "x": 1})
     ).error(400, param="x")
    (await api.call("POST", "/admin/keys/999/rotate", {"key": "sk-new-0123456"})).error(404)
    (await api.call("POST", "/admin/keys/abc/rotate", {"key": "sk-new-0123456"})).error(404)


async def test_health_is_live_from_the_key_pool_and_rotation_restores_it(
    api: Api, upstream: tuple[Upstream, str]
) -> None:
    fake, base_url = upstream
    provider = await api.provider("up", provider_type="openai", base_url=base_url,
                                  config={"max_retries": 0, "failure_threshold": 100})
    key = await api.provider_key(provider["id"], BAD_KEY)
    await api.mapping("m", provider["id"], model="gpt-up")
    client = (await api.client_key())["key"]

    assert (await api.chat("m", client)).status != 200
    assert fake.seen_keys == [BAD_KEY]
    shown = await api.ok("GET", f"/admin/keys/{key['id']}")
    assert shown["healthy"] is False and shown["health_source"] == "live"
    assert shown["last_error"] and BAD_KEY not in shown["last_error"]
    health = (await api.ok("GET", "/admin/health"))["providers"][0]
    assert (health["healthy_keys"], health["total_keys"]) == (0, 1)

    rotated = await api.ok("POST", f"/admin/keys/{key['id']}/rotate", {"key": GOOD_KEY})
    assert rotated["healthy"] is True and rotated["key_masked"] == "****GOOD"
    assert rotated["id"] == key["id"] and "key" not in rotated
    reply = await api.chat("m", client)
    assert reply.status == 200, reply.text
    assert fake.seen_keys[-1] == GOOD_KEY
    assert GOOD_KEY not in "".join(api.seen) and BAD_KEY not in "".join(api.seen)


async def test_a_stopped_provider_reports_the_stored_flag(api: Api) -> None:
    provider = await api.provider("p", enabled=False)
    key = await api.provider_key(provider["id"], "sk-0123456789abcd")
    assert key["health_source"] == "stored" and key["healthy"] is True
    assert key["key_masked"] == "****abcd"
