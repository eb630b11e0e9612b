"""PRODUCT.md "Monitoring": every metric name, with exactly its documented labels, is in
`/metrics` after ordinary traffic (fallback, hedge, cache, rate limit included)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.harness import ProxyProcess
from tests.services import free_port

from .conftest import DEMO_KEY

pytestmark = pytest.mark.timeout(60)

DOCUMENTED = {
    "proxy_requests_total": {"method", "endpoint", "status"},
    "proxy_request_duration_seconds_bucket": {"method", "endpoint", "le"},
    "proxy_provider_requests_total": {"provider", "model", "status"},
    "proxy_fallbacks_total": {"model", "reason"},
    "proxy_circuit_state": {"provider"},
    "proxy_inbox_depth": {"provider"},
    "proxy_supervisor_restarts_total": {"provider"},
    "proxy_rate_limited_total": {"scope"},
    "proxy_tokens_total": {"provider", "model", "kind"},
    "proxy_time_to_first_byte_seconds_bucket": {"provider", "le"},
    "proxy_cost_usd_total": {"provider", "model"},
    "proxy_hedges_total": {"model", "outcome"},
    "proxy_cache_requests_total": {"result"},
}
SAMPLE = re.compile(r"^([a-z_]+)\{([^}]*)\} (\S+)$", re.MULTILINE)


def samples(text: str) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    for name, labels, _ in SAMPLE.findall(text):
        found.setdefault(name, []).append(dict(re.findall(r'(\w+)="([^"]*)"', labels)))
    return found


def chat(gateway: ProxyProcess, model: str, key: str = DEMO_KEY,
         headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}", **(headers or {})},
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


def test_every_documented_metric_has_its_labels_after_traffic(demo: ProxyProcess) -> None:
    admin = demo.admin
    mock = next(p for p in admin.http.get("/admin/providers").json()["data"]
                if p["name"] == "mock")
    dead = admin.provider("metrics-dead", "openai", f"http://127.0.0.1:{free_port()}/v1",
                          keys=["sk-dead-0000"], max_retries=0)
    admin.mapping("metrics-fallback", dead["id"], "m", order=0)
    admin.mapping("metrics-fallback", mock["id"], "gpt-4o-mini", order=1)
    admin.mapping("metrics-hedge", mock["id"], "gpt-4o-mini", order=0, hedge_after_ms=5000)
    admin.mapping("metrics-hedge", mock["id"], "gpt-3.5-turbo", order=1)
    limited = admin.client_key("metrics-limited", rpm_limit=1)
    assert chat(demo, "metrics-fallback").status_code == 200
    assert chat(demo, "metrics-hedge").status_code == 200
    assert chat(demo, "gpt-3.5-turbo", headers={"x-proxy-cache-ttl": "60"}).status_code == 200
    chat(demo, "gpt-3.5-turbo", key=limited)
    assert chat(demo, "gpt-3.5-turbo", key=limited).status_code == 429
    found = samples(httpx.get(demo.url + "/metrics", timeout=10).text)
    for name, labels in DOCUMENTED.items():
        assert name in found, f"{name} has no sample"
        assert any(set(sample) == labels for sample in found[name]), (name, found[name][:3])
    assert {s["outcome"] for s in found["proxy_hedges_total"]} >= {"not_needed"}
    assert {s["result"] for s in found["proxy_cache_requests_total"]} >= {
        "hit", "miss", "bypass"}
    assert any(s["provider"] == "mock" for s in found["proxy_supervisor_restarts_total"])
    assert any(s["scope"] == "key" for s in found["proxy_rate_limited_total"])
    assert any(s["reason"] == "connect_error" for s in found["proxy_fallbacks_total"])
