"""The real server's log output after traffic and admin calls: one JSON object per line,
and no provider key or client key in plaintext anywhere."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ADMIN_KEY

from .conftest import ProviderSeed, StartProxy

pytestmark = pytest.mark.timeout(90)

GOOD_UPSTREAM = "sk-upstream-good-0123456789-GOOD"
BAD_UPSTREAM = "sk-upstream-revoked-9876543210-BADK"
CUSTOM_KEY = "custom-provider-plain-secret-CCCC"
ADMIN_POSTED_KEY = "sk-posted-through-admin-api-5555"


def test_logs_are_json_and_never_show_keys(start_proxy: StartProxy) -> None:
    with FakeUpstream("openai", keys={GOOD_UPSTREAM, CUSTOM_KEY}) as fake:
        proxy, seeded = start_proxy(
            [ProviderSeed("up", "openai", fake.base_url, keys=(BAD_UPSTREAM, GOOD_UPSTREAM),
                          config={"max_retries": 1}, aliases=(("chat", "gpt-fake", 0),)),
             ProviderSeed("cust", "custom", fake.base_url, keys=(CUSTOM_KEY,),
                          aliases=(("cust", "gpt-fake", 0),))],
            env={"LOG_LEVEL": "DEBUG"},
        )
        client = seeded.client_keys["client"]
        auth = {"Authorization": f"Bearer {client}"}
        body = {"messages": [{"role": "user", "content": "hi"}]}
        with httpx.Client(base_url=proxy.url, timeout=15.0) as http:
            for model in ("chat", "chat", "chat", "cust"):
                resp = http.post("/v1/chat/completions", json={**body, "model": model},
                                 headers=auth)
                assert resp.status_code == 200, resp.text
            stream = http.post("/v1/chat/completions", headers=auth,
                               json={**body, "model": "chat", "stream": True})
            assert stream.status_code == 200
            wrong = "sk-proxy-not-a-real-client-key-0000WXYZ"
            assert http.post("/v1/chat/completions", json={**body, "model": "chat"},
                             headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
            assert http.get("/admin/providers",
                            headers={"Authorization": f"Bearer {client}"}).status_code in (403, 404)
            admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
            providers = http.get("/admin/providers", headers=admin)
            if providers.status_code == 200:  # the admin API is there: write a key through it
                pid = next(p["id"] for p in providers.json()["data"] if p["name"] == "up")
                created = http.post("/admin/keys", headers=admin, json={
                    "provider_id": pid, "name": "posted", "key": ADMIN_POSTED_KEY})
                assert created.status_code in (200, 201), created.text
                assert ADMIN_POSTED_KEY not in created.text
                http.get("/admin/keys", headers=admin)
                http.get("/admin/health", headers=admin)
            http.get("/metrics")
        assert len(fake.requests) >= 5
        proxy.stop()  # shutdown lines too

    text = proxy.logs()
    assert text.strip(), "the server wrote no log lines at all"
    for secret in (GOOD_UPSTREAM, BAD_UPSTREAM, CUSTOM_KEY, ADMIN_POSTED_KEY, client, wrong,
                   ADMIN_KEY, seeded.env["ENCRYPTION_KEY"], seeded.env["SECRET_KEY"]):
        assert secret not in text, f"a secret ending in {secret[-4:]} appears in the logs"
    if providers.status_code == 200:
        assert "****5555" in text  # the admin change was logged, with the key masked
    for line in text.splitlines():
        record = orjson.loads(line)  # every line is one JSON object
        assert isinstance(record, dict)
        assert {"time", "level", "logger", "message"} <= set(record), line
