"""Hedged first token: a mapping's ``hedge_after_ms`` starts the next candidate when the
first brings no content in time; the first to produce content serves, the other upstream
request is closed at once. Streamed and whole answers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

pytestmark = pytest.mark.timeout(60)

KEY = "sk-upstream-hedge-aaaa1111"
BODY = {"model": "hedged", "messages": [{"role": "user", "content": "hello there"}],
        "max_tokens": 16}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys={KEY}) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream
            ) -> Iterator[ProxyProcess]:
    tmp: Path = tmp_path_factory.mktemp("hedging")
    with ProxyProcess(tmp) as proc:
        admin = proc.admin
        for order, name in enumerate(("primary", "secondary")):
            up = admin.provider(name, "openai", upstream.base_url, keys=[KEY], max_retries=0,
                                failure_threshold=1000)
            config = {"hedge_after_ms": 200} if name == "primary" else {}
            admin.mapping("hedged", up["id"], f"{name}-model", order=order, **config)
        proc.client_key_value = admin.client_key("hedging")  # type: ignore[attr-defined]
        yield proc


@pytest.fixture
def fake(upstream: FakeUpstream) -> Iterator[FakeUpstream]:
    upstream.clear_faults()
    upstream.reset_stats()
    yield upstream
    upstream.clear_faults()


@pytest.fixture
def http(gateway: ProxyProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=20, headers={
            "Authorization": f"Bearer {gateway.client_key_value}"}) as c:  # type: ignore[attr-defined]
        yield c


def _ask(http: httpx.Client, stream: bool) -> tuple[httpx.Response, str, float]:
    """The response, its content (the text of a whole answer or of every chunk) and the
    seconds it took."""
    started = time.monotonic()
    resp = http.post("/v1/chat/completions", json={**BODY, "stream": stream})
    elapsed = time.monotonic() - started
    assert resp.status_code == 200, resp.text
    if not stream:
        return resp, resp.json()["choices"][0]["message"]["content"], elapsed
    text = ""
    for line in resp.text.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                text += choice.get("delta", {}).get("content") or ""
    assert resp.text.rstrip().endswith("data: [DONE]")
    return resp, text, elapsed


def _models(fake: FakeUpstream) -> list[str]:
    return [r.json["model"] for r in fake.requests if r.path == "/v1/chat/completions"]


def _metric(gateway: ProxyProcess, outcome: str) -> float:
    text = httpx.get(gateway.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("proxy_hedges_total") and f'outcome="{outcome}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_slow_primary_is_overtaken_and_its_connection_closed(
    gateway: ProxyProcess, fake: FakeUpstream, http: httpx.Client, stream: bool
) -> None:
    slow = {"first_token_delay_ms": 3000} if stream else {"delay_ms": 3000}
    fake.add_fault(model="primary-model", **slow)
    won_before = _metric(gateway, "won")
    resp, text, elapsed = _ask(http, stream)
    assert elapsed < 1.0, elapsed
    assert resp.headers["x-proxy-provider"] == "secondary"
    assert resp.headers["x-proxy-attempts"] == "2"
    assert text
    served_at = time.monotonic()
    deadline = served_at + 2.0
    while time.monotonic() < deadline and not fake.stats()["disconnects"]:
        time.sleep(0.02)
    disconnects = fake.stats()["disconnects"]
    assert disconnects, "the upstream never saw the primary's connection close"
    assert disconnects[0] - served_at < 0.5  # closed at once, not after its 3 s
    assert sorted(_models(fake)) == ["primary-model", "secondary-model"]
    assert _metric(gateway, "won") == won_before + 1


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_fast_primary_never_calls_the_secondary(
    gateway: ProxyProcess, fake: FakeUpstream, http: httpx.Client, stream: bool
) -> None:
    before = _metric(gateway, "not_needed")
    resp, text, _ = _ask(http, stream)
    assert resp.headers["x-proxy-provider"] == "primary"
    assert resp.headers["x-proxy-attempts"] == "1"
    assert text
    time.sleep(0.3)  # past hedge_after_ms: a late hedge would show now
    assert _models(fake) == ["primary-model"]
    assert _metric(gateway, "not_needed") == before + 1


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_failing_secondary_leaves_the_primary_serving(
    gateway: ProxyProcess, fake: FakeUpstream, http: httpx.Client, stream: bool
) -> None:
    slow = {"first_token_delay_ms": 600} if stream else {"delay_ms": 600}
    fake.add_fault(model="primary-model", **slow)
    fake.add_fault(model="secondary-model", status=500)
    lost_before = _metric(gateway, "lost")
    resp, text, elapsed = _ask(http, stream)
    assert resp.headers["x-proxy-provider"] == "primary"
    assert resp.headers["x-proxy-attempts"] == "2"
    assert text and 0.5 < elapsed < 2.0
    assert sorted(_models(fake)) == ["primary-model", "secondary-model"]
    assert _metric(gateway, "lost") == lost_before + 1
    assert not fake.stats()["disconnects"]


def test_audit_says_which_one_served(gateway: ProxyProcess, fake: FakeUpstream,
                                     http: httpx.Client) -> None:
    fake.add_fault(model="primary-model", delay_ms=2000)
    resp, _, _ = _ask(http, False)
    request_id = resp.headers["x-request-id"]
    deadline = time.monotonic() + 10
    record = None
    while record is None and time.monotonic() < deadline:
        rows = gateway.admin.http.get("/admin/audit", params={"limit": 1000}).json()["data"]
        record = next((r for r in rows if r["request_id"] == request_id), None)
        time.sleep(0.1)
    assert record is not None
    assert record["provider"] == "secondary" and record["attempts"] == 2
    assert "hedge_won" in record["fallback_reasons"]


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/responses"])
def test_other_front_ends_are_hedged_too(gateway: ProxyProcess, fake: FakeUpstream,
                                         http: httpx.Client, path: str) -> None:
    fake.add_fault(model="primary-model", first_token_delay_ms=3000)
    if path == "/v1/messages":
        body = {"model": "hedged", "max_tokens": 16, "stream": True,
                "messages": [{"role": "user", "content": "hello there"}]}
    else:
        body = {"model": "hedged", "input": "hello there", "stream": True, "store": False}
    started = time.monotonic()
    resp = http.post(path, json=body)
    elapsed = time.monotonic() - started
    assert resp.status_code == 200, resp.text
    assert elapsed < 1.0, elapsed
    assert resp.headers["x-proxy-provider"] == "secondary"
    assert resp.headers["x-proxy-attempts"] == "2"
    assert "word0" in resp.text
