"""Each upstream fault, the client-visible outcome, and the provider/key state after."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess
from tests.services import free_port

from .conftest import KEY_A, KEY_B, Chain

pytestmark = pytest.mark.timeout(60)

MSG = [{"role": "user", "content": "tokens:5"}]
ANSWER = "word0 word1 word2 word3 word4"
NO_RETRY = {"max_retries": 0}


def ask(client: openai.OpenAI, alias: str) -> tuple[str, dict[str, str]]:
    raw = client.chat.completions.with_raw_response.create(model=alias, messages=MSG)
    return raw.parse().choices[0].message.content or "", dict(raw.headers)


def hits(fake: FakeUpstream) -> int:
    return int(fake.stats()["hits_by_path"].get("/v1/chat/completions", 0))


def test_500_once_then_healthy_is_retried_on_the_same_provider(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((primary, {}), (backup, {}))
    primary.add_fault(status=500)
    text, headers = ask(client, alias)
    assert text == ANSWER
    assert headers["x-proxy-provider"] == chain.providers[0]
    assert headers["x-proxy-attempts"] == "2"
    assert hits(primary) == 2 and hits(backup) == 0


def test_502_retries_then_fails_over(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream,
    gateway: ProxyProcess,
) -> None:
    alias = chain((primary, {"max_retries": 1}), (backup, {}))
    primary.add_fault(status=502, times=-1)
    text, headers = ask(client, alias)
    assert text == ANSWER
    assert headers["x-proxy-provider"] == chain.providers[1]
    assert headers["x-proxy-attempts"] == "3"
    assert hits(primary) == 2
    metrics = httpx.get(gateway.url + "/metrics").text
    assert 'proxy_fallbacks_total{model="' + alias + '",reason="upstream_502"}' in metrics


def test_503_persistent_on_the_only_provider_is_a_502_with_the_reason(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream
) -> None:
    alias = chain((primary, {"max_retries": 1}))
    primary.add_fault(status=503, times=-1, message="upstream is sad")
    with pytest.raises(openai.APIStatusError) as info:
        ask(client, alias)
    assert info.value.status_code == 502
    assert "upstream is sad" in info.value.message
    assert info.value.response.headers["x-proxy-attempts"] == "2"


def test_529_overloaded_fails_over(
    client: openai.OpenAI, chain: Chain, claude: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((claude, NO_RETRY), (backup, {}))
    claude.add_fault(status=529, times=-1)
    text, headers = ask(client, alias)
    assert text == ANSWER and headers["x-proxy-provider"] == chain.providers[1]


def test_429_with_retry_after_is_honoured(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream
) -> None:
    alias = chain((primary, {}))
    primary.add_fault(status=429, retry_after=1)
    started = time.monotonic()
    text, headers = ask(client, alias)
    assert text == ANSWER
    assert time.monotonic() - started >= 1.0
    assert headers["x-proxy-attempts"] == "2"


def test_429_without_retry_after_backs_off_and_retries(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream
) -> None:
    alias = chain((primary, {}))
    primary.add_fault(status=429)
    text, headers = ask(client, alias)
    assert text == ANSWER and headers["x-proxy-attempts"] == "2"


def test_429_on_one_key_moves_to_the_next_key_at_once(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream
) -> None:
    alias = chain((primary, {"keys": [KEY_A, KEY_B]}))
    ask(client, alias)  # round-robin: the next request uses the other key
    primary.reset_stats()
    primary.add_fault(status=429, retry_after=30, times=-1, key=KEY_B)
    primary.add_fault(status=429, retry_after=30, times=-1, key=KEY_A)
    primary.clear_faults()
    primary.add_fault(status=429, retry_after=30, times=1)
    started = time.monotonic()
    text, _ = ask(client, alias)
    assert text == ANSWER and time.monotonic() - started < 1.0
    assert len(primary.stats()["hits_by_key"]) == 2


def test_context_length_moves_on_without_retry(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((primary, {}), (backup, {}))
    primary.add_fault(status=400, code="context_length_exceeded",
                      message="This model's maximum context length is 8 tokens")
    text, headers = ask(client, alias)
    assert text == ANSWER and headers["x-proxy-provider"] == chain.providers[1]
    assert hits(primary) == 1


def test_content_policy_is_returned_untouched(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((primary, {}), (backup, {}))
    primary.add_fault(status=400, code="content_policy_violation",
                      message="Your request was rejected by the safety system")
    with pytest.raises(openai.BadRequestError) as info:
        ask(client, alias)
    assert info.value.body["message"] == "Your request was rejected by the safety system"  # type: ignore[index]
    assert info.value.code == "content_policy_violation"
    assert hits(primary) == 1 and hits(backup) == 0


def test_401_on_one_key_marks_it_unhealthy_and_uses_the_other(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, gateway: ProxyProcess
) -> None:
    alias = chain((primary, {"keys": ["sk-revoked-key-zzzz9999", KEY_B]}))
    for _ in range(3):
        text, _ = ask(client, alias)
        assert text == ANSWER
    keys = gateway.admin.http.get("/admin/keys").json()["data"]
    mine = {k["key_masked"]: k["healthy"] for k in keys
            if k["key_masked"] in ("****9999", "****0002")}
    assert mine == {"****9999": False, "****0002": True}
    health = gateway.admin.provider_health(chain.providers[0])
    assert (health["healthy_keys"], health["total_keys"]) == (1, 2)


def test_reset_before_headers_is_retried(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream
) -> None:
    alias = chain((primary, {}))
    primary.add_fault(reset=True)
    text, headers = ask(client, alias)
    assert text == ANSWER and headers["x-proxy-attempts"] == "2"


def test_connect_refused_fails_over(
    client: openai.OpenAI, chain: Chain, backup: FakeUpstream
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    alias = chain((dead, {"max_retries": 1}), (backup, {}))
    text, headers = ask(client, alias)
    assert text == ANSWER and headers["x-proxy-provider"] == chain.providers[1]
    assert headers["x-proxy-attempts"] == "3"


def test_no_response_times_out_and_moves_on_without_retry(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((primary, {"first_token_timeout": 1}), (backup, {}))
    primary.add_fault(hang=True, times=-1)
    started = time.monotonic()
    text, headers = ask(client, alias)
    elapsed = time.monotonic() - started
    assert text == ANSWER and headers["x-proxy-provider"] == chain.providers[1]
    assert hits(primary) == 1
    assert 0.9 <= elapsed < 3.0


def test_slow_first_token_in_a_stream_fails_over(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((primary, {"first_token_timeout": 1}), (backup, {}))
    primary.add_fault(first_token_delay_ms=5000)
    started = time.monotonic()
    stream = client.chat.completions.with_raw_response.create(
        model=alias, messages=MSG, stream=True)
    assert stream.headers["x-proxy-provider"] == chain.providers[1]
    text = "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)
    assert text == ANSWER
    assert time.monotonic() - started < 3.0


def test_malformed_event_is_skipped(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream
) -> None:
    alias = chain((primary, {}))
    primary.add_fault(malformed_after_chunks=2)
    chunks = list(client.chat.completions.create(model=alias, messages=MSG, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stream_without_done_is_finalised(
    gateway: ProxyProcess, chain: Chain, primary: FakeUpstream
) -> None:
    alias = chain((primary, {}))
    primary.add_fault(no_done=True)
    started = time.monotonic()
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", timeout=10,
                      headers={"Authorization": f"Bearer {gateway.client_key_value}"},  # type: ignore[attr-defined]
                      json={"model": alias, "messages": MSG, "stream": True}) as resp:
        body = resp.read().decode()
    assert body.rstrip().endswith("data: [DONE]")
    assert '"finish_reason":"stop"' in body
    assert time.monotonic() - started < 2.0


def test_oversized_response_is_a_clean_502(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream
) -> None:
    alias = chain((primary, {"max_retries": 0, "max_response_bytes": 1_000_000}))
    primary.add_fault(oversized_bytes=3_000_000)
    with pytest.raises(openai.APIStatusError) as info:
        ask(client, alias)
    assert info.value.status_code == 502
    assert "larger than" in info.value.message
    # the provider still serves normal answers
    assert ask(client, alias)[0] == ANSWER


def test_in_stream_error_event_before_any_text_fails_over(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((primary, NO_RETRY), (backup, {}))
    primary.add_fault(error_event_after_chunks=0)
    chunks = list(client.chat.completions.create(model=alias, messages=MSG, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER


def test_a_stream_that_fails_before_its_first_byte_is_a_json_error_on_record(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, gateway: ProxyProcess
) -> None:
    alias = chain((primary, NO_RETRY))
    primary.add_fault(status=503, times=-1)
    with pytest.raises(openai.APIStatusError) as info:
        list(client.chat.completions.create(model=alias, messages=MSG, stream=True))
    assert info.value.status_code == 502
    assert info.value.response.headers["content-type"].startswith("application/json")
    deadline = time.monotonic() + 5
    mine: list[dict[str, object]] = []
    while not mine and time.monotonic() < deadline:
        records = gateway.admin.http.get("/admin/audit", params={"limit": 1000}).json()["data"]
        mine = [r for r in records if r["alias"] == alias]
        time.sleep(0.1)
    assert mine and mine[-1]["status"] == 502 and mine[-1]["stream"] is True


def test_a_long_retry_after_moves_on_at_once_when_a_fallback_is_left(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((primary, {}), (backup, {}))
    primary.add_fault(status=429, retry_after=20, times=-1)
    started = time.monotonic()
    text, headers = ask(client, alias)
    assert text == ANSWER and headers["x-proxy-provider"] == chain.providers[1]
    assert time.monotonic() - started < 1.0
    assert hits(primary) == 1
    # the primary's key rests for its Retry-After: the next request skips it at once
    text, headers = ask(client, alias)
    assert headers["x-proxy-provider"] == chain.providers[1] and hits(primary) == 1


def test_a_keyless_provider_refusing_the_proxy_fails_over_not_a_client_401(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((primary, {"keys": []}), (backup, {}))  # primary requires a key we lack
    text, headers = ask(client, alias)
    assert text == ANSWER and headers["x-proxy-provider"] == chain.providers[1]
