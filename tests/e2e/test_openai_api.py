"""The OpenAI-compatible API driven with the official `openai` SDK over real HTTP."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

pytestmark = pytest.mark.timeout(60)

USER = [{"role": "user", "content": "Hello there"}]


def test_chat_non_stream_through_mock(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(model="gpt-3.5-turbo", messages=USER)
    assert resp.choices[0].message.content == "This is a mock response to: Hello there"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "gpt-3.5-turbo"
    assert resp.usage is not None and resp.usage.completion_tokens == 8


def test_chat_through_openai_upstream_reports_upstream_model(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="fake-gpt", messages=[{"role": "user", "content": "tokens:5"}]
    )
    resp = raw.parse()
    assert resp.choices[0].message.content == "word0 word1 word2 word3 word4"
    assert resp.model.startswith("gpt-4o-mini")
    assert raw.headers["x-proxy-provider"] == "fake"
    assert raw.headers["x-proxy-attempts"] == "1"
    assert raw.headers["x-request-id"]
    # the upstream saw our key, not the client's, and the request id
    seen = fake.requests[-1]
    assert seen.key == "sk-upstream-test-key-aaaa1111"
    headers = {k.lower(): v for k, v in seen.headers.items()}
    assert headers.get("x-request-id") == raw.headers["x-request-id"]


def test_request_id_is_echoed(gateway: ProxyProcess, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-3.5-turbo", messages=USER, extra_headers={"x-request-id": "my-trace-42"}
    )
    assert raw.headers["x-request-id"] == "my-trace-42"


async def test_async_client_chat_and_stream(aclient: openai.AsyncOpenAI) -> None:
    resp = await aclient.chat.completions.create(model="fake-gpt", messages=USER)
    assert resp.choices[0].message.content
    stream = await aclient.chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": "tokens:7"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "word0 word1 word2 word3 word4 word5 word6"


def test_stream_with_include_usage(client: openai.OpenAI, fake: FakeUpstream) -> None:
    chunks = list(client.chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": "tokens:4"}], stream=True,
        stream_options={"include_usage": True},
    ))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "word0 word1 word2 word3"
    )
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4


def test_stream_without_include_usage_sends_no_usage_chunk(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    chunks = list(client.chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": "tokens:3"}], stream=True))
    assert all(c.choices for c in chunks)
    # the proxy still asked the upstream for usage, for its own accounting
    assert fake.requests[-1].json["stream_options"] == {"include_usage": True}


def test_stream_is_not_buffered(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add_fault(chunk_delay_ms=300)
    started = time.monotonic()
    arrivals = []
    for chunk in client.chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": "tokens:6"}], stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 6
    # the first token reached the client long before the upstream finished (~1.5 s)
    assert arrivals[0] < 0.8
    assert arrivals[-1] - arrivals[0] > 1.0


def test_legacy_completions(client: openai.OpenAI) -> None:
    resp = client.completions.create(model="fake-gpt", prompt="tokens:3")
    assert resp.choices[0].text == "word0 word1 word2"
    stream = client.completions.create(model="gpt-3.5-turbo", prompt="hi", stream=True)
    text = "".join(c.choices[0].text for c in stream if c.choices)
    assert text == "This is a mock response to: hi"


def test_embeddings(client: openai.OpenAI) -> None:
    resp = client.embeddings.create(model="fake-embed", input=["a", "b"])
    assert [d.index for d in resp.data] == [0, 1]
    assert len(resp.data[0].embedding) == 8
    mock = client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert len(mock.data[0].embedding) == 8


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"gpt-3.5-turbo", "fake-gpt", "fake-embed", "text-embedding-3-small"} <= ids
    assert client.models.retrieve("fake-gpt").id == "fake-gpt"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_auth_errors(gateway: ProxyProcess) -> None:
    for key in ("wrong-key", "sk-proxy-" + "x" * 43):
        with openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0) as c:
            with pytest.raises(openai.AuthenticationError) as info:
                c.chat.completions.create(model="gpt-3.5-turbo", messages=USER)
            assert info.value.status_code == 401
            assert info.value.body["code"] == "invalid_api_key"  # type: ignore[index]
    resp = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "x"})
    assert resp.status_code == 401
    assert set(resp.json()["error"]) == {"message", "type", "param", "code"}


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="does-not-exist", messages=USER)
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_direct_provider_addressing(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(model="fake/gpt-4o", messages=USER)
    assert resp.model.startswith("gpt-4o")


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (b"", 400, None),
        (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "model"),
        (b'{"model": "gpt-3.5-turbo"}', 400, "messages"),
        (b'{"model": "gpt-3.5-turbo", "messages": "hi"}', 400, "messages"),
        (b'{"model": 5, "messages": []}', 400, "model"),
        (b'{"model": "gpt-3.5-turbo", "messages": [{"role": "wizard", "content": "x"}]}',
         400, "messages[0].role"),
        (b'{"model": "gpt-3.5-turbo", "messages": [{"role": "user"}], "stream": "yes"}',
         400, "stream"),
        (b'{"model": "gpt-3.5-turbo", "messages": [{"role": "user"}], "max_tokens": -1}',
         400, "max_tokens"),
        (b'{"model": "gpt-3.5-turbo", "messages": [{"role": "user"}], "n": true}', 400, "n"),
        (b'\xff\xfe\x00garbage', 400, None),
    ],
)
def test_bad_input_is_a_clean_4xx(gateway: ProxyProcess, body: bytes, status: int,
                                  param: str | None) -> None:
    resp = httpx.post(
        gateway.url + "/v1/chat/completions", content=body,
        headers={"Authorization": f"Bearer {gateway.client_key_value}",  # type: ignore[attr-defined]
                 "Content-Type": "application/json"},
    )
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert resp.headers["x-request-id"]


def test_oversized_body_and_junk_headers_then_still_serving(
    gateway: ProxyProcess, client: openai.OpenAI
) -> None:
    auth = {"Authorization": f"Bearer {gateway.client_key_value}"}  # type: ignore[attr-defined]
    big = b'{"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "' + (
        b"x" * (11 * 1024 * 1024)) + b'"}]}'
    resp = httpx.post(gateway.url + "/v1/chat/completions", content=big, headers=auth)
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "request_too_large"
    for headers in (
        {"Authorization": "Basic Zm9vOmJhcg=="},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer " + "k" * 5000},
        {**auth, "Content-Type": "text/plain", "x-request-id": "\x01bad"},
    ):
        r = httpx.post(gateway.url + "/v1/chat/completions", content=b"{}", headers=headers)
        assert 400 <= r.status_code < 500, (headers, r.status_code, r.text)
        assert "error" in r.json()
    assert httpx.get(gateway.url + "/v1/nope", headers=auth).status_code == 404
    assert httpx.get(gateway.url + "/v1/chat/completions", headers=auth).status_code == 405
    # and the server keeps serving
    assert client.chat.completions.create(model="gpt-3.5-turbo", messages=USER).choices


def test_health_and_readiness(gateway: ProxyProcess) -> None:
    assert httpx.get(gateway.url + "/health").json() == {"status": "ok"}
    ready = httpx.get(gateway.url + "/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] is True


async def test_many_concurrent_streams(aclient: openai.AsyncOpenAI) -> None:
    async def one(i: int) -> str:
        stream = await aclient.chat.completions.create(
            model="gpt-3.5-turbo", messages=[{"role": "user", "content": f"n{i}"}],
            stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    results = await asyncio.gather(*(one(i) for i in range(50)))
    assert results == [f"This is a mock response to: n{i}" for i in range(50)]
