"""PRODUCT.md "Providers and routing": `provider_name/model`, `is_default`, 404 for an
unknown model, `fallbacks` stripped, and `model` naming the upstream model that served."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess
from tests.services import free_port

from .conftest import DEMO_KEY, chain

pytestmark = pytest.mark.timeout(60)

AUTH = {"Authorization": f"Bearer {DEMO_KEY}"}
ASK = [{"role": "user", "content": "tokens:3"}]
Pair = tuple[FakeUpstream, FakeUpstream]


def chat(gateway: ProxyProcess, model: str, **extra: object) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/chat/completions", headers=AUTH, timeout=30,
                      json={"model": model, "messages": ASK, **extra})


def messages(gateway: ProxyProcess, model: str) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/messages", headers={"x-api-key": DEMO_KEY}, timeout=30,
                      json={"model": model, "max_tokens": 16, "messages": ASK})


def test_the_answer_names_the_upstream_model_that_served_it(
    demo: ProxyProcess, upstreams: Pair
) -> None:
    """'The response's model field names the upstream model that actually served the
    request, never the failed one' — whole, streamed and on /v1/messages."""
    _, two = upstreams
    dead = f"http://127.0.0.1:{free_port()}/v1"
    alias, names = chain(demo, (dead, {"max_retries": 0}), (two.base_url, {}))
    whole = chat(demo, alias)
    assert whole.status_code == 200 and whole.headers["x-proxy-provider"] == names[1]
    assert whole.json()["model"] == "model-1"
    with httpx.stream("POST", demo.url + "/v1/chat/completions", headers=AUTH, timeout=30,
                      json={"model": alias, "messages": ASK, "stream": True}) as resp:
        events = [json.loads(line[6:]) for line in resp.iter_lines()
                  if line.startswith("data: {")]
    assert events and {event["model"] for event in events} == {"model-1"}
    answer = messages(demo, alias)
    assert answer.status_code == 200 and answer.json()["model"] == "model-1"


def test_fallbacks_extend_the_chain_and_are_stripped_before_forwarding(
    demo: ProxyProcess, upstreams: Pair
) -> None:
    one, two = upstreams
    first, _ = chain(demo, (one.base_url, {"max_retries": 0}))
    second, names = chain(demo, (two.base_url, {}))
    one.add_fault(status=503, times=1)
    resp = chat(demo, first, fallbacks=[second])
    assert resp.status_code == 200 and resp.headers["x-proxy-provider"] == names[0]
    forwarded = [r.json for r in one.requests + two.requests if isinstance(r.json, dict)]
    assert forwarded and all("fallbacks" not in body for body in forwarded)


def test_provider_name_slash_model_addresses_a_provider_directly(demo: ProxyProcess) -> None:
    resp = chat(demo, "mock/some-model-no-alias-names")
    assert resp.status_code == 200 and resp.headers["x-proxy-provider"] == "mock"
    assert resp.json()["model"] == "some-model-no-alias-names"


def test_is_default_serves_unknown_models_and_without_it_they_are_404(
    demo: ProxyProcess
) -> None:
    admin = demo.admin.http
    default = next(m for m in admin.get("/admin/mappings").json()["data"] if m["is_default"])
    assert chat(demo, "no-such-alias").status_code == 200  # the demo's default mapping
    assert admin.patch(f"/admin/mappings/{default['id']}",
                       json={"is_default": False}).status_code == 200
    try:
        missing = chat(demo, "no-such-alias")
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "invalid_request_error"
        assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
        anthropic = messages(demo, "no-such-alias")
        assert anthropic.status_code == 404
        assert anthropic.json()["type"] == "error"
        assert anthropic.json()["error"]["type"] == "not_found_error"
    finally:
        admin.patch(f"/admin/mappings/{default['id']}", json={"is_default": True})


def test_every_response_carries_the_clients_request_id(demo: ProxyProcess) -> None:
    for method, path in (("GET", "/health"), ("GET", "/v1/models"), ("GET", "/v1/nope"),
                         ("POST", "/v1/chat/completions"), ("GET", "/admin/health")):
        resp = httpx.request(method, demo.url + path, headers={**AUTH, "x-request-id": "rid-7"},
                             json={"model": "gpt-3.5-turbo", "messages": ASK}, timeout=10)
        assert resp.headers["x-request-id"] == "rid-7", (path, resp.status_code)
    assert httpx.get(demo.url + "/health", timeout=10).headers["x-request-id"]


def test_a_wrong_method_is_a_405_in_the_error_shape_naming_the_allowed_ones(
    demo: ProxyProcess
) -> None:
    resp = httpx.delete(demo.url + "/v1/chat/completions", headers=AUTH, timeout=10)
    assert resp.status_code == 405
    assert set(resp.json()["error"]) == {"message", "type", "param", "code"}
    assert "POST" in resp.headers["Allow"]
