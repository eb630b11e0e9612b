"""A request's own ``"fallbacks": [alias, ...]`` extends its chain and never reaches an
upstream (the strict Anthropic fake would answer 400 "Extra inputs are not permitted")."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

from .observe import stream_chunks

pytestmark = pytest.mark.timeout(30)

ASK: list[ChatCompletionMessageParam] = [{"role": "user", "content": "tokens:3"}]
TEXT3 = "word0 word1 word2"


def _nobody_saw_fallbacks(fakes: dict[str, FakeUpstream]) -> None:
    for kind, fake in fakes.items():
        for seen in fake.requests:
            assert isinstance(seen.json, dict), (kind, seen.path)
            assert "fallbacks" not in seen.json, (kind, seen.path, seen.json)


def test_fallbacks_are_stripped_when_the_first_hop_serves(
    client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    for model, kind in (("claude", "anthropic"), ("oai", "openai"), ("llama", "ollama")):
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=ASK, extra_body={"fallbacks": ["llama"]})
        assert raw.parse().choices[0].message.content == TEXT3
        assert raw.headers["x-proxy-attempts"] == "1"
        assert fakes[kind].stats()["hits"] >= 1
    assert fakes["anthropic"].stats()["hits"] == 1
    _nobody_saw_fallbacks(fakes)


def test_fallbacks_extend_the_chain(client: openai.OpenAI, fakes: dict[str, FakeUpstream]) -> None:
    fakes["anthropic"].add_fault(times=-1, model="claude-sonnet-4-5", status=529)
    raw = client.chat.completions.with_raw_response.create(
        model="claude", messages=ASK, extra_body={"fallbacks": ["llama"]})
    resp = raw.parse()
    assert resp.choices[0].message.content == TEXT3
    assert resp.model == "llama3.2"
    assert (raw.headers["x-proxy-provider"], raw.headers["x-proxy-attempts"]) == ("llama", "2")
    assert fakes["anthropic"].stats()["hits"] == fakes["ollama"].stats()["hits"] == 1
    _nobody_saw_fallbacks(fakes)


def test_fallbacks_extend_a_stream_across_aliases(
    client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    fakes["openai"].add_fault(times=-1, model="gpt-4o-mini", status=503)
    fakes["anthropic"].add_fault(times=-1, model="claude-sonnet-4-5", reset=True)
    raw = client.chat.completions.with_raw_response.create(
        model="oai", messages=ASK, stream=True,
        extra_body={"fallbacks": ["claude", "claude-mt"]})
    assert raw.headers["x-proxy-provider"] == "claude"  # claude-mt's provider
    assert raw.headers["x-proxy-attempts"] == "3"
    chunks = stream_chunks(raw)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT3
    assert {c.model for c in chunks} == {"claude-haiku-4-5"}
    # the fallback alias's own mapping defaults apply to its hop
    served = fakes["anthropic"].requests[-1].json
    assert (served["model"], served["max_tokens"], served["temperature"]) == (
        "claude-haiku-4-5", 77, 0.2)
    _nobody_saw_fallbacks(fakes)


async def test_fallbacks_on_embeddings(aclient: openai.AsyncOpenAI,
                                       fakes: dict[str, FakeUpstream]) -> None:
    resp = await aclient.embeddings.create(model="claude", input="hi",
                                           extra_body={"fallbacks": ["nomic"]})
    assert resp.model == "nomic-embed-text" and len(resp.data[0].embedding) == 8
    assert fakes["anthropic"].stats()["hits"] == 0
    _nobody_saw_fallbacks(fakes)


def test_bad_fallbacks_are_a_clean_4xx(gateway: ProxyProcess, client: openai.OpenAI,
                                       fakes: dict[str, FakeUpstream]) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="claude", messages=ASK,
                                       extra_body={"fallbacks": "llama"})
    assert isinstance(bad.value.body, dict) and bad.value.body["param"] == "fallbacks"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="claude", messages=ASK,
                                       extra_body={"fallbacks": ["no-such-alias"]})
    resp = httpx.post(gateway.url + "/v1/chat/completions", json={
        "model": "claude", "messages": ASK, "fallbacks": [1, 2]},
        headers={"Authorization": f"Bearer {gateway.client_key_value}"})  # type: ignore[attr-defined]
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "fallbacks"
    assert sum(f.stats()["hits"] for f in fakes.values()) == 0
