"""PRODUCT.md "Failure policy" and "Circuit breaker", as a failover benchmark drives them:
two fake upstreams behind one alias, faults injected, client-visible outcome and timing."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess
from tests.services import free_port

from .conftest import DEMO_KEY, chain

pytestmark = pytest.mark.timeout(60)

BODY = {"messages": [{"role": "user", "content": "tokens:5"}]}
ANSWER = "word0 word1 word2 word3 word4"
Pair = tuple[FakeUpstream, FakeUpstream]


def post(gateway: ProxyProcess, alias: str, **extra: object) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/chat/completions", json={"model": alias, **BODY, **extra},
                      headers={"Authorization": f"Bearer {DEMO_KEY}"}, timeout=30)


def hits(fake: FakeUpstream) -> int:
    return int(fake.stats()["hits_by_path"].get("/v1/chat/completions", 0))


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


def test_all_providers_unreachable_is_a_503_with_retry_after(demo: ProxyProcess) -> None:
    """'503 no healthy provider (with Retry-After)'; Anthropic: 529 overloaded_error."""
    alias, _ = chain(demo, (dead_url(), {"max_retries": 0}), (dead_url(), {"max_retries": 0}))
    resp = post(demo, alias)
    assert resp.status_code == 503, resp.text
    assert float(resp.headers["Retry-After"]) >= 1
    assert set(resp.json()["error"]) == {"message", "type", "param", "code"}
    messages = httpx.post(demo.url + "/v1/messages", headers={"x-api-key": DEMO_KEY}, json={
        "model": alias, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30)
    assert messages.status_code == 529, messages.text
    assert messages.json()["error"]["type"] == "overloaded_error"
    assert "Retry-After" in messages.headers


def test_all_providers_failing_with_5xx_fail_fast_with_the_reason(
    demo: ProxyProcess, upstreams: Pair
) -> None:
    """Every hop answering 500: a 5xx error (never a hang, never a 200)."""
    one, two = upstreams
    alias, _ = chain(demo, (one.base_url, {"max_retries": 1}), (two.base_url, {"max_retries": 1}))
    one.add_fault(status=500, times=-1)
    two.add_fault(status=500, times=-1)
    started = time.monotonic()
    resp = post(demo, alias)
    assert resp.status_code in (502, 503), resp.text
    assert time.monotonic() - started < 10
    assert resp.json()["error"]["message"]


def test_500_once_is_retried_on_the_same_provider(demo: ProxyProcess, upstreams: Pair) -> None:
    one, two = upstreams
    alias, names = chain(demo, (one.base_url, {}), (two.base_url, {}))
    one.add_fault(status=500, times=1)
    resp = post(demo, alias)
    assert resp.status_code == 200
    assert resp.headers["x-proxy-provider"] == names[0]
    assert resp.headers["x-proxy-attempts"] == "2"
    assert hits(two) == 0


def test_short_retry_after_is_waited_long_one_moves_on(
    demo: ProxyProcess, upstreams: Pair
) -> None:
    """Retry-After within max_retry_wait is honoured on the same provider; longer moves on
    at once."""
    one, two = upstreams
    alias, names = chain(demo, (one.base_url, {"max_retry_wait": 5}), (two.base_url, {}))
    one.add_fault(status=429, retry_after=1, times=1)
    started = time.monotonic()
    resp = post(demo, alias)
    assert resp.headers["x-proxy-provider"] == names[0]
    assert time.monotonic() - started >= 0.9
    one.add_fault(status=429, retry_after=60, times=1)
    started = time.monotonic()
    resp = post(demo, alias)
    assert resp.status_code == 200 and resp.headers["x-proxy-provider"] == names[1]
    assert time.monotonic() - started < 3


def test_never_more_than_two_attempts_in_the_first_1_5_seconds(
    demo: ProxyProcess, upstreams: Pair
) -> None:
    one, two = upstreams
    alias, _ = chain(demo, (one.base_url, {"max_retries": 5}), (two.base_url, {}))
    one.add_fault(status=503, times=-1)
    resp = post(demo, alias)
    assert resp.status_code == 200
    stamps = [r.at for r in one.requests]
    assert stamps and len([t for t in stamps if t - stamps[0] < 1.5]) <= 2


def test_a_hanging_provider_is_not_retried_and_the_chain_moves_on(
    demo: ProxyProcess, upstreams: Pair
) -> None:
    one, two = upstreams
    alias, names = chain(demo, (one.base_url, {"timeout": 1.5, "first_token_timeout": 1.0,
                                               "max_retries": 3}), (two.base_url, {}))
    one.add_fault(hang=True, times=-1)
    started = time.monotonic()
    resp = post(demo, alias)
    assert resp.status_code == 200 and resp.headers["x-proxy-provider"] == names[1]
    assert time.monotonic() - started < 4
    assert hits(one) == 1


def test_slow_first_token_of_a_stream_fails_over(demo: ProxyProcess, upstreams: Pair) -> None:
    one, two = upstreams
    alias, names = chain(demo, (one.base_url, {"first_token_timeout": 1.0}), (two.base_url, {}))
    one.add_fault(first_token_delay_ms=5000, times=-1)
    with httpx.stream("POST", demo.url + "/v1/chat/completions",
                      json={"model": alias, **BODY, "stream": True},
                      headers={"Authorization": f"Bearer {DEMO_KEY}"}, timeout=30) as resp:
        text = resp.read().decode()
    assert resp.headers["x-proxy-provider"] == names[1]
    assert "data: [DONE]" in text and "word4" in text


def test_an_open_circuit_skips_the_provider_and_is_not_an_attempt(
    demo: ProxyProcess, upstreams: Pair
) -> None:
    """'x-proxy-attempts where a provider was called': a hop skipped because its circuit
    is open was not called."""
    one, two = upstreams
    alias, names = chain(demo, (one.base_url, {"max_retries": 0, "failure_threshold": 2,
                                               "recovery_timeout": 30}), (two.base_url, {}))
    one.add_fault(status=503, times=-1)
    for _ in range(2):
        post(demo, alias)
    assert hits(one) == 2
    resp = post(demo, alias)
    assert resp.headers["x-proxy-provider"] == names[1]
    assert resp.headers["x-proxy-attempts"] == "1"
    assert hits(one) == 2


def test_a_long_retry_after_on_the_last_entry_reaches_the_client(
    demo: ProxyProcess, upstreams: Pair
) -> None:
    """A 429 is retryable; a Retry-After over max_retry_wait is not waited out: with no
    entry left the client gets the 429 with a Retry-After at once."""
    one, _ = upstreams
    alias, _ = chain(demo, (one.base_url, {"max_retry_wait": 2}))
    one.add_fault(status=429, retry_after=30, times=-1)
    started = time.monotonic()
    resp = post(demo, alias)
    assert time.monotonic() - started < 3
    assert resp.status_code == 429, resp.text
    assert float(resp.headers["Retry-After"]) >= 2


def test_half_open_lets_exactly_one_probe_through_under_concurrency(
    demo: ProxyProcess, upstreams: Pair
) -> None:
    """'after recovery_timeout one probe request goes through (half-open)': concurrent
    requests meanwhile are served by the next entry, and the probe's success closes it."""
    one, two = upstreams
    alias, names = chain(demo, (one.base_url, {"max_retries": 0, "failure_threshold": 1,
                                               "recovery_timeout": 1}), (two.base_url, {}))
    one.add_fault(status=503, times=1)
    assert post(demo, alias).headers["x-proxy-provider"] == names[1]  # opens the circuit
    time.sleep(1.2)
    one.add_fault(delay_ms=1000, times=-1)  # recovered, but slow: the probe stays in flight
    with ThreadPoolExecutor(6) as pool:
        served = list(pool.map(lambda _: post(demo, alias).headers["x-proxy-provider"],
                               range(6)))
    assert hits(one) == 2  # the failure that opened it, and one probe
    assert served.count(names[0]) == 1 and served.count(names[1]) == 5, served
    one.clear_faults()
    assert post(demo, alias).headers["x-proxy-provider"] == names[0]  # closed again


def test_slow_first_token_fails_over_on_every_streaming_front_end(
    demo: ProxyProcess, upstreams: Pair
) -> None:
    """'the proxy holds its own response until that chunk, so a slow first token still
    fails over' — /v1/messages and /v1/responses streams too."""
    one, two = upstreams
    alias, names = chain(demo, (one.base_url, {"first_token_timeout": 1.0}), (two.base_url, {}))
    one.add_fault(first_token_delay_ms=5000, times=-1)
    for path, body, marker in (
        ("/v1/messages", {"max_tokens": 32, "messages": BODY["messages"]}, "message_stop"),
        ("/v1/responses", {"input": "tokens:5"}, "response.completed"),
    ):
        with httpx.stream("POST", demo.url + path, json={"model": alias, "stream": True, **body},
                          headers={"Authorization": f"Bearer {DEMO_KEY}"}, timeout=30) as resp:
            text = resp.read().decode()
        assert resp.status_code == 200, (path, text[:300])
        assert resp.headers["x-proxy-provider"] == names[1], path
        assert marker in text and "word4" in text, (path, text[-300:])


def stream_events(gateway: ProxyProcess, alias: str) -> list[dict[str, Any]]:
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", timeout=30,
                      json={"model": alias, **BODY, "stream": True},
                      headers={"Authorization": f"Bearer {DEMO_KEY}"}) as resp:
        assert resp.status_code == 200
        return [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: {")]


def test_a_cut_stream_resumes_and_an_unresumable_one_ends_in_band(
    demo: ProxyProcess, upstreams: Pair
) -> None:
    """'The client sees one uninterrupted stream'; otherwise the in-band error event, and
    finish_reason is never stop for a truncated answer."""
    one, two = upstreams
    alias, _ = chain(demo, (one.base_url, {"max_retries": 0}), (two.base_url, {}))
    one.add_fault(cut_after_chunks=2, times=1)
    events = stream_events(demo, alias)
    text = "".join(str(c["delta"].get("content") or "")
                   for e in events for c in e.get("choices", []))
    assert text == ANSWER
    alone, _ = chain(demo, (one.base_url, {"max_retries": 0}))
    one.add_fault(cut_after_chunks=2, times=1)
    events = stream_events(demo, alone)
    assert "error" in events[-1] and set(events[-1]["error"]) >= {"message"}
    finishes = [c.get("finish_reason") for e in events
                for c in e.get("choices", [])]
    assert "stop" not in finishes
