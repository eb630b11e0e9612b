"""Circuit transitions seen at the upstream's hit counter; stream resume; disconnects."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

from .conftest import Chain

pytestmark = pytest.mark.timeout(60)

MSG = [{"role": "user", "content": "tokens:5"}]
SIXTY = [{"role": "user", "content": "tokens:60"}]
FULL_60 = " ".join(f"word{i}" for i in range(60))


def hits(fake: FakeUpstream) -> int:
    return int(fake.stats()["hits_by_path"].get("/v1/chat/completions", 0))


def test_circuit_opens_probes_once_and_closes(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream,
    gateway: ProxyProcess,
) -> None:
    alias = chain(
        (primary, {"max_retries": 0, "failure_threshold": 3, "recovery_timeout": 1.5}),
        (backup, {}),
    )
    name = chain.providers[0]
    primary.add_fault(status=503, times=-1)
    for _ in range(3):
        client.chat.completions.create(model=alias, messages=MSG)
    assert hits(primary) == 3
    assert gateway.admin.provider_health(name)["circuit"]["state"] == "open"
    metrics = httpx.get(gateway.url + "/metrics").text
    assert f'proxy_circuit_state{{provider="{name}"}} 1' in metrics
    # open: the chain skips it without calling it
    for _ in range(5):
        raw = client.chat.completions.with_raw_response.create(model=alias, messages=MSG)
        assert raw.headers["x-proxy-provider"] == chain.providers[1]
    assert hits(primary) == 3
    # after recovery one probe goes through; it fails and re-opens the circuit
    time.sleep(1.6)
    client.chat.completions.create(model=alias, messages=MSG)
    assert hits(primary) == 4
    client.chat.completions.create(model=alias, messages=MSG)
    assert hits(primary) == 4
    assert gateway.admin.provider_health(name)["circuit"]["state"] == "open"
    # the primary recovers: the next probe (after a doubled wait) closes the circuit
    primary.clear_faults()
    deadline = time.monotonic() + 6
    served_by = None
    while time.monotonic() < deadline:
        raw = client.chat.completions.with_raw_response.create(model=alias, messages=MSG)
        served_by = raw.headers["x-proxy-provider"]
        if served_by == name:
            break
        time.sleep(0.2)
    assert served_by == name, "traffic did not return to the recovered primary"
    assert gateway.admin.provider_health(name)["circuit"]["state"] == "closed"


def _stream_text(client: openai.OpenAI, alias: str) -> tuple[str, list[str | None]]:
    parts, finishes = [], []
    for chunk in client.chat.completions.create(model=alias, messages=SIXTY, stream=True):
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finishes.append(chunk.choices[0].finish_reason)
    return "".join(parts), finishes


def test_cut_stream_resumes_through_a_provider_that_accepts_prefill(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, claude: FakeUpstream
) -> None:
    alias = chain((primary, {"max_retries": 0}), (claude, {"supports_prefill": True}))
    primary.add_fault(cut_after_chunks=40)
    text, finishes = _stream_text(client, alias)
    assert text == FULL_60
    assert finishes[-1] == "stop"
    prefill = claude.requests[-1].json["messages"][-1]
    assert prefill["role"] == "assistant"
    assert prefill["content"] == " ".join(f"word{i}" for i in range(40))


def test_cut_stream_resumes_through_a_provider_without_prefill(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((primary, {"max_retries": 0}), (backup, {}))
    primary.add_fault(cut_after_chunks=40)
    text, finishes = _stream_text(client, alias)
    assert text == FULL_60
    assert finishes[-1] == "stop"
    assert backup.requests[-1].json["messages"][-1]["role"] == "user"
    # the resume is on record: metrics and the audit trail
    gateway = chain.gateway
    assert "proxy_stream_resumes_total" in httpx.get(gateway.url + "/metrics").text
    deadline = time.monotonic() + 5
    while True:
        records = gateway.admin.http.get("/admin/audit", params={"limit": 1000}).json()["data"]
        mine = [r for r in records if r["alias"] == alias]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert mine and mine[-1]["fallback_reasons"] == ["stream_broken", "resumed"]
    assert mine[-1]["provider"] == chain.providers[1] and mine[-1]["status"] == 200


def test_stalled_stream_resumes_after_idle_timeout(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((primary, {"idle_timeout": 1}), (backup, {}))
    primary.add_fault(stall_after_chunks=20)
    started = time.monotonic()
    text, _ = _stream_text(client, alias)
    assert text == FULL_60
    assert time.monotonic() - started < 5


def test_unresumable_break_ends_with_an_in_band_error_never_stop(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream
) -> None:
    alias = chain((primary, {"max_retries": 0}))
    primary.add_fault(cut_after_chunks=10)
    finishes: list[str | None] = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(model=alias, messages=SIXTY, stream=True):
            if chunk.choices:
                finishes.append(chunk.choices[0].finish_reason)
    assert len(finishes) >= 10
    assert "stop" not in finishes


def test_tool_call_stream_is_not_resumed(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((primary, {"max_retries": 0}), (backup, {}))
    primary.add_fault(cut_after_chunks=2)
    tools = [{"type": "function", "function": {
        "name": "weather", "parameters": {"type": "object", "properties": {}}}}]
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(
            model=alias, stream=True, tools=tools,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "please call tool now"}]))
    assert hits(backup) == 0


def test_client_disconnect_closes_the_upstream_within_a_second(
    gateway: ProxyProcess, chain: Chain, primary: FakeUpstream
) -> None:
    alias = chain((primary, {}))
    primary.add_fault(chunk_delay_ms=200)
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", timeout=10,
                      headers={"Authorization": f"Bearer {gateway.client_key_value}"},  # type: ignore[attr-defined]
                      json={"model": alias, "messages": SIXTY, "stream": True}) as resp:
        lines = resp.iter_lines()
        got = 0
        for line in lines:
            if line.startswith("data:"):
                got += 1
            if got == 3:
                break
        closed_at = time.monotonic()
    deadline = closed_at + 1.0
    while time.monotonic() < deadline and not primary.stats()["disconnects"]:
        time.sleep(0.02)
    disconnects = primary.stats()["disconnects"]
    assert disconnects, "the upstream never saw the proxy go away"
    assert disconnects[0] - closed_at < 1.0
    assert primary.stats()["streams_open"] == 0


def test_a_fresh_answer_that_turns_out_different_is_dropped_for_the_next_entry(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    # the second entry starts like the sent text, then differs (in a later batch)
    alias = chain(
        (primary, {"max_retries": 0}),
        ("mock://", {"provider_type": "mock", "keys": [], "chunk_delay_ms": 20,
                     "response": "word0 word1 something else entirely"}),
        (backup, {}),
    )
    primary.add_fault(cut_after_chunks=5)
    text, finishes = _stream_text(client, alias)
    assert text == FULL_60
    assert finishes[-1] == "stop"
    assert backup.requests, "the third entry never resumed the stream"
