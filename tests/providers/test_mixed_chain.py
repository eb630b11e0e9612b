"""A mixed-provider fallback chain end to end: alias `gpt-4` → openai (max_retries 1) →
anthropic → ollama, each hop with its own mapping defaults (see conftest)."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes import FakeUpstream, embedding
from tests.harness import ProxyProcess

from .observe import metric_total, stream_chunks

pytestmark = pytest.mark.timeout(30)

TEXT6 = "word0 word1 word2 word3 word4 word5"
ASK6: list[ChatCompletionMessageParam] = [{"role": "user", "content": "tokens:6"}]


def _fail_openai_and_anthropic(fakes: dict[str, FakeUpstream], *, reset: bool = False) -> None:
    fakes["openai"].add_fault(times=-1, model="gpt-4o", status=503)
    if reset:
        fakes["anthropic"].add_fault(times=-1, model="claude-sonnet-4-5", reset=True)
    else:
        fakes["anthropic"].add_fault(times=-1, model="claude-sonnet-4-5", status=529)


def _fallbacks(gateway: ProxyProcess, reason: str | None = None) -> float:
    labels = {"model": "gpt-4"} if reason is None else {"model": "gpt-4", "reason": reason}
    return metric_total(gateway, "proxy_fallbacks_total", **labels)


def _assert_hop_bodies(fakes: dict[str, FakeUpstream], *, stream: bool) -> None:
    """Each hop got the client's request plus its own mapping's defaults, nothing else."""
    openai_bodies = [r.json for r in fakes["openai"].requests]
    assert len(openai_bodies) == 2  # max_retries: 1
    for body in openai_bodies:
        assert body["model"] == "gpt-4o"
        assert (body["temperature"], body["user"]) == (0.3, "hop-openai")
        assert not {"max_tokens", "top_p", "seed", "fallbacks"} & set(body)
        assert body.get("stream", False) is stream
    [claude] = [r.json for r in fakes["anthropic"].requests]
    assert (claude["model"], claude["max_tokens"], claude["temperature"]) == (
        "claude-sonnet-4-5", 50, 0.5)
    assert not {"top_p", "metadata"} & set(claude)
    assert claude.get("stream", False) is stream
    [llama] = [r.json for r in fakes["ollama"].requests]
    assert llama["model"] == "llama3.2" and llama["stream"] is stream
    assert llama["options"] == {"top_p": 0.9, "seed": 7}


def test_first_hop_serves_with_its_own_defaults(
    client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4", messages=ASK6)
    resp = raw.parse()
    assert resp.choices[0].message.content == TEXT6
    assert resp.model.startswith("gpt-4o")
    assert (raw.headers["x-proxy-provider"], raw.headers["x-proxy-attempts"]) == (
        "chain-openai", "1")
    body = fakes["openai"].requests[-1].json
    assert (body["temperature"], body["user"]) == (0.3, "hop-openai")
    assert fakes["anthropic"].stats()["hits"] == fakes["ollama"].stats()["hits"] == 0


def test_two_failing_hops_third_serves(
    gateway: ProxyProcess, client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    _fail_openai_and_anthropic(fakes)
    before = (_fallbacks(gateway, "upstream_503"), _fallbacks(gateway, "upstream_529"))
    raw = client.chat.completions.with_raw_response.create(model="gpt-4", messages=ASK6)
    resp = raw.parse()
    assert resp.choices[0].message.content == TEXT6
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "llama3.2"  # the model that served, not the alias or a failed one
    assert raw.headers["x-proxy-provider"] == "chain-llama"
    assert raw.headers["x-proxy-attempts"] == "4"  # openai 2, anthropic 1, ollama 1
    _assert_hop_bodies(fakes, stream=False)
    after = (_fallbacks(gateway, "upstream_503"), _fallbacks(gateway, "upstream_529"))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def test_two_failing_hops_third_serves_a_stream(
    gateway: ProxyProcess, client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    _fail_openai_and_anthropic(fakes, reset=True)
    before = _fallbacks(gateway)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4", messages=ASK6, stream=True)
    assert raw.headers["x-proxy-provider"] == "chain-llama"
    assert raw.headers["x-proxy-attempts"] == "4"
    chunks = stream_chunks(raw)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT6
    assert [c.choices[0].finish_reason for c in chunks if c.choices and
            c.choices[0].finish_reason] == ["stop"]
    assert {c.model for c in chunks} == {"llama3.2"}
    _assert_hop_bodies(fakes, stream=True)
    assert _fallbacks(gateway) - before == 2


async def test_async_stream_falls_back_with_usage(
    aclient: openai.AsyncOpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    _fail_openai_and_anthropic(fakes)
    raw = await aclient.chat.completions.with_raw_response.create(
        model="gpt-4", messages=ASK6, stream=True,
        stream_options={"include_usage": True})
    assert raw.headers["x-proxy-provider"] == "chain-llama"
    parsed: Any = raw.parse()
    chunks = [c async for c in parsed]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT6
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6


def test_second_hop_serves_a_stream(client: openai.OpenAI, fakes: dict[str, FakeUpstream]) -> None:
    fakes["openai"].add_fault(times=-1, model="gpt-4o", status=500)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4", messages=ASK6, stream=True)
    assert (raw.headers["x-proxy-provider"], raw.headers["x-proxy-attempts"]) == (
        "chain-claude", "3")
    chunks = stream_chunks(raw)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT6
    assert {c.model for c in chunks} == {"claude-sonnet-4-5"}
    assert fakes["anthropic"].requests[-1].json["max_tokens"] == 50
    assert fakes["ollama"].stats()["hits"] == 0


def test_client_values_win_over_every_hops_defaults(
    client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    _fail_openai_and_anthropic(fakes)
    resp = client.chat.completions.create(model="gpt-4", messages=ASK6,
                                          temperature=0.1, max_tokens=20, seed=3)
    assert resp.choices[0].message.content == TEXT6
    assert fakes["openai"].requests[-1].json["temperature"] == 0.1
    assert fakes["openai"].requests[-1].json["max_tokens"] == 20
    claude = fakes["anthropic"].requests[-1].json
    assert (claude["max_tokens"], claude["temperature"]) == (20, 0.1)
    assert fakes["ollama"].requests[-1].json["options"] == {
        "temperature": 0.1, "seed": 3, "top_p": 0.9, "num_predict": 20}


def test_stream_cut_midway_resumes_on_the_next_provider(
    client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    fakes["openai"].add_fault(model="gpt-4o", cut_after_chunks=2)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4", messages=ASK6, stream=True)
    assert raw.headers["x-proxy-provider"] == "chain-openai"
    chunks = stream_chunks(raw)
    # one uninterrupted answer: what openai sent, then the rest from anthropic
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT6
    assert [c.choices[0].finish_reason for c in chunks if c.choices and
            c.choices[0].finish_reason] == ["stop"]
    assert fakes["anthropic"].stats()["hits"] == 1
    assert fakes["ollama"].stats()["hits"] == 0


def test_embeddings_fall_back_from_openai_to_ollama(
    client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    fakes["openai"].add_fault(times=-1, path="/v1/embeddings", status=503)
    raw = client.embeddings.with_raw_response.create(model="embed-chain", input=["a b", "c"])
    resp = raw.parse()
    assert (raw.headers["x-proxy-provider"], raw.headers["x-proxy-attempts"]) == (
        "chain-llama", "3")
    assert resp.model == "nomic-embed-text"
    assert resp.data[0].embedding == pytest.approx(embedding("a b"))
    assert resp.data[1].embedding == pytest.approx(embedding("c"))
    assert fakes["openai"].stats()["hits_by_path"] == {"/v1/embeddings": 2}
    assert fakes["ollama"].requests[-1].path == "/api/embed"


def test_embeddings_on_an_anthropic_only_chain_are_a_clear_400(
    client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="embed-claude", input="hello")
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error"
    assert "anthropic" in body["message"] and "embeddings" in body["message"]
    assert fakes["anthropic"].stats()["hits"] == 0


def test_embeddings_outage_is_not_reported_as_a_bad_request(
    client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    fakes["openai"].add_fault(times=-1, path="/v1/embeddings", status=503)
    with pytest.raises(openai.APIStatusError) as info:
        client.embeddings.create(model="embed-outage", input="hello")
    assert fakes["openai"].stats()["hits_by_path"] == {"/v1/embeddings": 2}
    # the request was fine; the one provider that could serve it is down: 502, not 400
    assert info.value.status_code == 502
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "upstream_error"


def test_embeddings_skip_the_anthropic_hop(
    client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    raw = client.embeddings.with_raw_response.create(model="embed-skip", input="hello")
    assert raw.headers["x-proxy-provider"] == "chain-llama"
    assert raw.parse().data[0].embedding == pytest.approx(embedding("hello"))
    assert fakes["anthropic"].stats()["hits"] == 0


def test_every_hop_failing_is_a_502(client: openai.OpenAI, fakes: dict[str, FakeUpstream]) -> None:
    _fail_openai_and_anthropic(fakes)
    fakes["ollama"].add_fault(times=-1, status=500, message="model crashed")
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-4", messages=ASK6)
    assert info.value.status_code == 502
    assert info.value.response.headers["x-proxy-attempts"] == "4"
    assert fakes["ollama"].stats()["hits"] == 1


def test_anthropic_stream_error_event_resumes_on_ollama(
    client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    fakes["openai"].add_fault(times=-1, model="gpt-4o", status=503)
    fakes["anthropic"].add_fault(model="claude-sonnet-4-5", error_event_after_chunks=3)
    chunks = list(client.chat.completions.create(model="gpt-4", messages=ASK6, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT6
    assert [c.choices[0].finish_reason for c in chunks if c.choices and
            c.choices[0].finish_reason] == ["stop"]
    assert fakes["anthropic"].stats()["hits"] == fakes["ollama"].stats()["hits"] == 1


def test_context_length_moves_on_without_retrying(
    client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    fakes["openai"].add_fault(times=-1, model="gpt-4o", status=400,
                              code="context_length_exceeded")
    fakes["anthropic"].add_fault(times=-1, model="claude-sonnet-4-5", status=400,
                                 code="context_length_exceeded")
    raw = client.chat.completions.with_raw_response.create(model="gpt-4", messages=ASK6)
    assert raw.parse().choices[0].message.content == TEXT6
    # openai has max_retries 1, yet a context-length error is not retried there
    assert (raw.headers["x-proxy-provider"], raw.headers["x-proxy-attempts"]) == (
        "chain-llama", "3")
    assert fakes["openai"].stats()["hits"] == fakes["anthropic"].stats()["hits"] == 1


def test_a_request_error_from_a_middle_hop_is_returned_untouched(
    client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    fakes["openai"].add_fault(times=-1, model="gpt-4o", status=503)
    reason = "messages.0.content: image too large"
    fakes["anthropic"].add_fault(times=-1, model="claude-sonnet-4-5", status=400,
                                 message=reason)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4", messages=ASK6)
    assert isinstance(info.value.body, dict) and info.value.body["message"] == reason
    assert fakes["ollama"].stats()["hits"] == 0
