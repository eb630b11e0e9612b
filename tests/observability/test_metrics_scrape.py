"""``/metrics`` of the real server after known traffic: every counter and histogram moves
by exactly what the traffic implies; labels are route templates and known models only."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes import FakeUpstream

from .conftest import ProviderSeed, Samples, StartProxy, parse_prometheus, total, value

pytestmark = pytest.mark.timeout(90)

UPSTREAM_KEY = "sk-upstream-secret-AAAA1111BBBB2222"
CHAT = "/v1/chat/completions"
BUCKETS = ("0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0",
           "2.5", "5.0", "10.0", "30.0", "60.0", "120.0", "300.0", "600.0", "+Inf")


def scrape(http: httpx.Client) -> tuple[str, Samples]:
    resp = http.get("/metrics")
    assert resp.status_code == 200
    return resp.text, parse_prometheus(resp.text)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def chat(http: httpx.Client, key: str, model: str, stream: bool = False) -> httpx.Response:
    body: dict[str, object] = {"model": model,
                               "messages": [{"role": "user", "content": "hello world"}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return http.post(CHAT, json=body, headers={"Authorization": f"Bearer {key}"})


def test_metrics_move_by_exactly_the_traffic(start_proxy: StartProxy) -> None:
    with FakeUpstream("openai", keys={UPSTREAM_KEY}) as fake:
        mock_config = {"response": "one two three four"}  # 4 completion tokens
        proxy, seeded = start_proxy(
            [
                ProviderSeed("mock", config=mock_config,
                             aliases=(("gpt-m", "mock-model", 0), ("chain", "mock-backup", 1))),
                ProviderSeed("up", "openai", fake.base_url, keys=(UPSTREAM_KEY,),
                             config={"max_retries": 0, "failure_threshold": 1,
                                     "recovery_timeout": 300},
                             aliases=(("chain", "gpt-fake", 0),)),
            ],
            client_keys={"client": {}, "limited": {"rpm_limit": 1}},
        )
        key, limited = seeded.client_keys["client"], seeded.client_keys["limited"]
        with httpx.Client(base_url=proxy.url, timeout=15.0) as http:
            _, before = scrape(http)
            for _ in range(3):
                assert chat(http, key, "gpt-m").status_code == 200
            for _ in range(2):
                resp = chat(http, key, "gpt-m", stream=True)
                assert resp.status_code == 200 and "data: [DONE]" in resp.text
            fake.add_fault(status=500, times=1)
            first = chat(http, key, "chain")  # up fails (500), circuit opens, mock serves
            assert first.status_code == 200 and first.headers["x-proxy-provider"] == "mock"
            second = chat(http, key, "chain")  # up skipped: circuit open
            assert second.status_code == 200 and second.headers["x-proxy-provider"] == "mock"
            assert len(fake.requests) == 1  # the open circuit kept the second one away
            assert chat(http, key, "mock/unlisted-model-xyz").status_code == 200
            assert chat(http, key, "no-such-model-abc").status_code == 404
            assert chat(http, limited, "gpt-m").status_code == 200
            assert chat(http, limited, "gpt-m").status_code == 429
            assert http.get("/v1/models/raw-model-name-123",
                            headers={"Authorization": f"Bearer {key}"}).status_code == 404
            assert http.get("/totally/unknown/path-987").status_code == 404
            text, after = scrape(http)

    m = "proxy_requests_total"
    assert delta(before, after, m, method="POST", endpoint=CHAT, status="200") == 9
    assert delta(before, after, m, method="POST", endpoint=CHAT, status="404") == 1
    assert delta(before, after, m, method="POST", endpoint=CHAT, status="429") == 1
    assert delta(before, after, m, method="GET", endpoint="/v1/models/{model}", status="404") == 1
    assert delta(before, after, m, method="GET", endpoint="unmatched", status="404") == 1

    h = "proxy_request_duration_seconds"
    labels = {"method": "POST", "endpoint": CHAT}
    assert delta(before, after, h + "_count", **labels) == 11
    assert delta(before, after, h + "_bucket", le="+Inf", **labels) == 11
    assert delta(before, after, h + "_sum", **labels) > 0
    counts = [value(after, h + "_bucket", le=le, **labels) for le in BUCKETS]
    assert counts == sorted(counts), "histogram buckets must be cumulative"

    p = "proxy_provider_requests_total"
    assert delta(before, after, p, provider="mock", model="mock-model", status="success") == 6
    assert delta(before, after, p, provider="mock", model="mock-backup", status="success") == 2
    assert delta(before, after, p, provider="mock", model="other", status="success") == 1
    assert delta(before, after, p, provider="up", model="gpt-fake", status="upstream_500") == 1
    assert total(after, p, provider="up") - total(before, p, provider="up") == 1

    f = "proxy_fallbacks_total"
    assert delta(before, after, f, model="chain", reason="upstream_500") == 1
    assert delta(before, after, f, model="chain", reason="unavailable") == 1
    assert total(after, f) - total(before, f) == 2

    assert value(after, "proxy_circuit_state", provider="up") == 1  # open
    assert value(after, "proxy_circuit_state", provider="mock") == 0
    assert value(after, "proxy_inbox_depth", provider="mock") == 0
    assert ("proxy_inbox_depth", frozenset({("provider", "up")})) in after
    assert total(after, "proxy_supervisor_restarts_total") == 0
    assert delta(before, after, "proxy_rate_limited_total", scope="key") == 1

    t = "proxy_tokens_total"
    for model, requests in (("mock-model", 6), ("mock-backup", 2), ("other", 1)):
        assert delta(before, after, t, provider="mock", model=model, kind="prompt") == 2 * requests
        assert delta(before, after, t, provider="mock", model=model,
                     kind="completion") == 4 * requests
    assert total(after, t, provider="up") == 0

    # time to first byte: every answer the mock served, streamed (2) or whole (7)
    ttfb = "proxy_time_to_first_byte_seconds"
    assert delta(before, after, ttfb + "_count", provider="mock") == 9
    assert delta(before, after, ttfb + "_bucket", provider="mock", le="+Inf") == 9
    assert total(after, ttfb + "_count") - total(before, ttfb + "_count") == 9

    for raw in ("raw-model-name-123", "path-987", "no-such-model-abc", "unlisted-model-xyz",
                "/totally/unknown"):
        assert raw not in text, f"{raw!r} leaked into a metric label"
    endpoints = {dict(ls).get("endpoint") for (n, ls) in after if n == m}
    assert endpoints <= {"/health", "/readyz", "/metrics", CHAT, "/v1/completions",
                         "/v1/embeddings", "/v1/models", "/v1/models/{model}", "unmatched"}
    models = {dict(ls)["model"] for (n, ls) in after if n in (p, t)}
    assert models == {"mock-model", "mock-backup", "other", "gpt-fake"}
