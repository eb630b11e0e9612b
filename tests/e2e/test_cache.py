"""The exact response cache end to end (in-process backend): hits served with no upstream
call and the same content, streamed and whole, policy headers, tenants, single flight,
expiry, the byte bound, and what a hit costs (nothing) and how it is audited."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

pytestmark = pytest.mark.timeout(60)

KEY = "sk-upstream-cache-aaaa1111"
MAX_BYTES = 256 * 1024


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys={KEY}) as fake:
        yield fake


@pytest.fixture(scope="module")
def claude() -> Iterator[FakeUpstream]:
    with FakeUpstream("anthropic", keys={KEY}) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream,
            claude: FakeUpstream) -> Iterator[ProxyProcess]:
    tmp: Path = tmp_path_factory.mktemp("cache")
    with ProxyProcess(tmp, env={"CACHE_MAX_BYTES": str(MAX_BYTES)}) as proc:
        admin = proc.admin
        up = admin.provider("up", "openai", upstream.base_url, keys=[KEY], max_retries=0)
        admin.mapping("cached", up["id"], "gpt-4o-mini", cache_ttl=60)
        ant = admin.provider("ant", "anthropic", claude.base_url, keys=[KEY], max_retries=0)
        admin.mapping("cached-claude", ant["id"], "claude-sonnet-4-5", cache_ttl=60)
        admin.mapping("plain", up["id"], "gpt-4o-mini")
        keys = {name: admin.client_key(name, tenant=tenant)
                for name, tenant in (("a", "acme"), ("a2", "acme"), ("b", "globex"))}
        keys["tpm"] = admin.client_key("tpm", tenant="tpm-tenant", tpm_limit=100_000)
        proc.keys = keys  # type: ignore[attr-defined]
        yield proc


@pytest.fixture
def fake(upstream: FakeUpstream) -> Iterator[FakeUpstream]:
    upstream.clear_faults()
    upstream.reset_stats()
    yield upstream
    upstream.clear_faults()


def _http(gateway: ProxyProcess, who: str = "a") -> httpx.Client:
    return httpx.Client(base_url=gateway.url, timeout=20, headers={
        "Authorization": f"Bearer {gateway.keys[who]}"})  # type: ignore[attr-defined]


def _body(model: str = "cached", **extra: Any) -> dict[str, Any]:
    prompt = f"question {uuid.uuid4().hex}"  # every test asks something new
    return {"model": model, "messages": [{"role": "user", "content": prompt}],
            "max_tokens": 20, **extra}


def _events(resp: httpx.Response) -> list[Any]:
    assert resp.headers["content-type"].startswith("text/event-stream")
    out: list[Any] = []
    for line in resp.text.splitlines():
        if line.startswith("data: "):
            out.append("[DONE]" if line == "data: [DONE]" else json.loads(line[6:]))
    return out


def _text(events: list[Any]) -> str:
    return "".join((c.get("delta") or {}).get("content") or ""
                   for e in events if e != "[DONE]" for c in e["choices"])


def _calls(fake: FakeUpstream) -> int:
    return sum(1 for r in fake.requests if r.path == "/v1/chat/completions")


def test_repeated_whole_request_is_a_hit_with_no_upstream_call(
        gateway: ProxyProcess, fake: FakeUpstream) -> None:
    body = _body()
    with _http(gateway) as http:
        first = http.post("/v1/chat/completions", json=body)
        second = http.post("/v1/chat/completions", json={**body, "user": "someone"})
    assert first.status_code == second.status_code == 200
    assert first.headers["x-proxy-cache"] == "miss"
    assert second.headers["x-proxy-cache"] == "hit"
    assert second.json() == first.json()
    assert _calls(fake) == 1
    assert second.headers["x-proxy-attempts"] == "0" and "x-proxy-provider" not in second.headers


def test_repeated_stream_is_a_hit_with_the_same_content(gateway: ProxyProcess,
                                                          fake: FakeUpstream) -> None:
    body = _body(stream=True, stream_options={"include_usage": True})
    with _http(gateway) as http:
        first = http.post("/v1/chat/completions", json=body)
        second = http.post("/v1/chat/completions", json=body)
        third = http.post("/v1/chat/completions", json={**body, "stream_options": None})
    assert (first.headers["x-proxy-cache"], second.headers["x-proxy-cache"]) == ("miss", "hit")
    a, b, c = _events(first), _events(second), _events(third)
    assert _text(a) and _text(a) == _text(b) == _text(c)
    assert a[-1] == b[-1] == c[-1] == "[DONE]"
    usage = [e["usage"] for e in a[:-1] if not e["choices"]]
    assert usage and [e["usage"] for e in b[:-1] if not e["choices"]] == usage
    assert not [e for e in c[:-1] if not e["choices"]]  # no usage chunk unless asked
    assert _calls(fake) == 1


def test_whole_answer_replays_as_a_stream(gateway: ProxyProcess, fake: FakeUpstream) -> None:
    body = _body()
    with _http(gateway) as http:
        whole = http.post("/v1/chat/completions", json=body).json()
        streamed = http.post("/v1/chat/completions", json={
            **body, "stream": True, "stream_options": {"include_usage": True}})
    assert streamed.headers["x-proxy-cache"] == "hit"
    events = _events(streamed)
    assert _text(events) == whole["choices"][0]["message"]["content"]
    assert events[-1] == "[DONE]"
    assert [e["usage"] for e in events[:-1] if not e["choices"]] == [whole["usage"]]
    finishes = [c["finish_reason"] for e in events[:-1] for c in e["choices"]
                if c["finish_reason"]]
    assert finishes == [whole["choices"][0]["finish_reason"]]
    assert _calls(fake) == 1


def test_stream_answers_a_whole_request(gateway: ProxyProcess, fake: FakeUpstream) -> None:
    body = _body()
    with _http(gateway) as http:
        streamed = http.post("/v1/chat/completions", json={**body, "stream": True})
        whole = http.post("/v1/chat/completions", json=body)
    assert whole.headers["x-proxy-cache"] == "hit"
    answer = whole.json()
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"] == _text(_events(streamed))
    assert answer["choices"][0]["finish_reason"] == "stop" and answer["usage"]["total_tokens"]
    assert _calls(fake) == 1


def test_no_cache_and_no_store_are_honoured(gateway: ProxyProcess, fake: FakeUpstream) -> None:
    body = _body()
    with _http(gateway) as http:
        stored_not = http.post("/v1/chat/completions", json=body,
                               headers={"Cache-Control": "no-store"})
        after = http.post("/v1/chat/completions", json=body)
        bypass = http.post("/v1/chat/completions", json=body,
                           headers={"Cache-Control": "no-cache"})
        hit = http.post("/v1/chat/completions", json=body)
    assert [r.headers["x-proxy-cache"] for r in (stored_not, after, bypass, hit)] == [
        "miss", "miss", "bypass", "hit"]
    assert _calls(fake) == 3


def test_tenants_never_share_an_entry(gateway: ProxyProcess, fake: FakeUpstream) -> None:
    body = _body()
    with _http(gateway, "a") as a, _http(gateway, "a2") as a2, _http(gateway, "b") as b:
        assert a.post("/v1/chat/completions", json=body).headers["x-proxy-cache"] == "miss"
        assert a2.post("/v1/chat/completions", json=body).headers["x-proxy-cache"] == "hit"
        assert b.post("/v1/chat/completions", json=body).headers["x-proxy-cache"] == "miss"
    assert _calls(fake) == 2


def test_header_turns_the_cache_on_for_an_uncached_alias_and_entries_expire(
        gateway: ProxyProcess, fake: FakeUpstream) -> None:
    body = _body("plain")
    ttl = {"x-proxy-cache-ttl": "1"}
    with _http(gateway) as http:
        assert "x-proxy-cache" not in http.post("/v1/chat/completions", json=body).headers
        assert http.post("/v1/chat/completions", json=body,
                         headers=ttl).headers["x-proxy-cache"] == "miss"
        assert http.post("/v1/chat/completions", json=body,
                         headers=ttl).headers["x-proxy-cache"] == "hit"
        time.sleep(1.1)
        assert http.post("/v1/chat/completions", json=body,
                         headers=ttl).headers["x-proxy-cache"] == "miss"
        bad = http.post("/v1/chat/completions", json=body, headers={"x-proxy-cache-ttl": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "x-proxy-cache-ttl"
    assert _calls(fake) == 3


def test_fifty_identical_concurrent_requests_cost_one_upstream_call(
        gateway: ProxyProcess, fake: FakeUpstream) -> None:
    fake.add_fault(model="gpt-4o-mini", delay_ms=300)
    body = _body()

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=20, headers={
                "Authorization": f"Bearer {gateway.keys['a']}"}) as http:  # type: ignore[attr-defined]
            return await asyncio.gather(*(
                http.post("/v1/chat/completions", json=body) for _ in range(50)))

    responses = asyncio.run(run())
    assert all(r.status_code == 200 for r in responses)
    assert sorted(r.headers["x-proxy-cache"] for r in responses) == ["hit"] * 49 + ["miss"]
    assert len({r.text for r in responses}) == 1
    assert _calls(fake) == 1


def test_hits_cost_no_tokens_are_audited_and_counted(gateway: ProxyProcess,
                                                     fake: FakeUpstream) -> None:
    body = _body()
    with _http(gateway, "tpm") as http:
        replies = [http.post("/v1/chat/completions", json=body) for _ in range(6)]
    remaining = [int(r.headers["x-ratelimit-remaining-tokens"]) for r in replies]
    assert replies[0].headers["x-proxy-cache"] == "miss"
    assert remaining[2] == remaining[5] < 100_000  # the miss was charged, hits are not
    request_id = replies[1].headers["x-request-id"]
    record = None
    deadline = time.monotonic() + 10
    while record is None and time.monotonic() < deadline:
        rows = gateway.admin.http.get("/admin/audit", params={"limit": 1000}).json()["data"]
        record = next((r for r in rows if r["request_id"] == request_id), None)
        time.sleep(0.1)
    assert record is not None
    assert record["status"] == 200 and record["fallback_reasons"] == ["cache_hit"]
    assert record["attempts"] == 0 and record["provider"] is None
    metrics = httpx.get(gateway.url + "/metrics", timeout=10).text
    assert 'proxy_cache_requests_total{result="hit"}' in metrics


def test_in_process_cache_stays_under_cache_max_bytes(gateway: ProxyProcess,
                                                      fake: FakeUpstream) -> None:
    with _http(gateway) as http:
        for _ in range(150):
            body = _body(max_tokens=1000)
            body["messages"][0]["content"] = f"echo:{uuid.uuid4().hex}" + " padding" * 250
            answer = http.post("/v1/chat/completions", json=body)
            assert answer.status_code == 200 and len(answer.content) > 2000
    cache = gateway.admin.health()["cache"]
    assert cache["backend"] == "memory" and cache["max_bytes"] == MAX_BYTES
    assert MAX_BYTES // 2 < cache["bytes"] <= MAX_BYTES  # full, and evicting to stay under
    assert cache["entries"] < 150


def _sse_text(resp: httpx.Response, kind: str) -> str:
    """The answer text of an Anthropic (``messages``) or Responses (``responses``) stream."""
    text = ""
    for line in resp.text.splitlines():
        if not line.startswith("data: {"):
            continue
        event = json.loads(line[6:])
        if kind == "messages" and event.get("type") == "content_block_delta":
            text += event["delta"].get("text", "")
        if kind == "responses" and event.get("type") == "response.output_text.delta":
            text += event["delta"]
    return text


def test_messages_and_responses_hits_go_through_their_codecs(
        gateway: ProxyProcess, fake: FakeUpstream) -> None:
    prompt = f"question {uuid.uuid4().hex}"
    with _http(gateway) as http:
        messages = {"model": "cached", "max_tokens": 20,
                    "messages": [{"role": "user", "content": prompt}]}
        first = http.post("/v1/messages", json=messages)
        second = http.post("/v1/messages", json=messages)
        streamed = http.post("/v1/messages", json={**messages, "stream": True})
        assert first.status_code == second.status_code == streamed.status_code == 200
        assert [r.headers["x-proxy-cache"] for r in (first, second, streamed)] == [
            "miss", "hit", "hit"]
        text = "".join(b["text"] for b in first.json()["content"] if b["type"] == "text")
        assert second.json()["content"] == first.json()["content"]
        assert text and _sse_text(streamed, "messages") == text
        assert "event: message_stop" in streamed.text

        responses = {"model": "cached", "input": prompt, "max_output_tokens": 20,
                     "store": False}
        first = http.post("/v1/responses", json=responses)
        second = http.post("/v1/responses", json=responses)
        streamed = http.post("/v1/responses", json={**responses, "stream": True})
        assert [r.headers["x-proxy-cache"] for r in (first, second, streamed)] == [
            "miss", "hit", "hit"]
        def words(resp: httpx.Response) -> str:  # each replay is a new response object
            return "".join(c["text"] for o in resp.json()["output"] if o["type"] == "message"
                           for c in o["content"] if c["type"] == "output_text")

        assert words(first) and words(second) == words(first)
        assert _sse_text(streamed, "responses") == words(first)
    assert _calls(fake) == 2  # one per front end: their keys differ by endpoint


def test_native_anthropic_answers_are_cached_in_their_own_shape(
        gateway: ProxyProcess, claude: FakeUpstream) -> None:
    claude.reset_stats()
    body = {"model": "cached-claude", "max_tokens": 20,
            "messages": [{"role": "user", "content": f"question {uuid.uuid4().hex}"}]}
    with _http(gateway) as http:
        first = http.post("/v1/messages", json=body)
        second = http.post("/v1/messages", json=body)
        streamed = [http.post("/v1/messages", json={**body, "stream": True}) for _ in range(2)]
    assert [r.status_code for r in (first, second, *streamed)] == [200] * 4
    assert [r.headers["x-proxy-cache"] for r in (first, second, *streamed)] == [
        "miss", "hit", "miss", "hit"]  # a native whole answer does not replay as events
    assert second.json() == first.json() and second.json()["usage"] == first.json()["usage"]
    text = "".join(b["text"] for b in first.json()["content"] if b["type"] == "text")
    assert _sse_text(streamed[0], "messages") == _sse_text(streamed[1], "messages") == text
    assert "event: message_stop" in streamed[1].text
    assert len([r for r in claude.requests if r.path == "/v1/messages"]) == 2
