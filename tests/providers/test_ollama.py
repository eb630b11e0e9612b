"""The `ollama` provider end to end: the official `openai` SDK → the real gateway → the
fake native Ollama API (``/api/chat`` NDJSON, ``/api/embed``)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
)

from tests.fakes import TOOL_ARGUMENTS, FakeUpstream, embedding

from .observe import headers_of, stream_chunks

pytestmark = pytest.mark.timeout(30)

WEATHER_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather for a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


def test_chat_non_stream_usage_and_no_key(client: openai.OpenAI, ollama_fake: FakeUpstream) -> None:
    raw = client.chat.completions.with_raw_response.create(model="llama", messages=[
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "tokens:4"},
    ])
    resp = raw.parse()
    assert resp.choices[0].message.content == "word0 word1 word2 word3"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "llama3.2"
    assert resp.object == "chat.completion" and resp.id.startswith("chatcmpl-")
    # prompt_eval_count = words in the conversation (4), eval_count = tokens (4)
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens,
            resp.usage.total_tokens) == (4, 4, 8)
    assert raw.headers["x-proxy-provider"] == "llama"
    seen = ollama_fake.requests[-1]
    assert seen.path == "/api/chat"
    assert seen.json["stream"] is False
    assert seen.json["model"] == "llama3.2"
    assert seen.json["messages"] == [{"role": "system", "content": "You are terse."},
                                     {"role": "user", "content": "tokens:4"}]
    assert seen.key is None
    headers = headers_of(ollama_fake)
    assert "authorization" not in headers and "x-api-key" not in headers


def test_options_from_request_and_provider_defaults(
    client: openai.OpenAI, ollama_fake: FakeUpstream
) -> None:
    resp = client.chat.completions.create(
        model="llama", messages=[{"role": "user", "content": "tokens:10"}], temperature=0.4,
        top_p=0.8, seed=42, stop=["zzz"], max_tokens=5)
    assert ollama_fake.requests[-1].json["options"] == {
        "num_ctx": 4096,  # the provider's config.options
        "temperature": 0.4, "top_p": 0.8, "seed": 42, "stop": ["zzz"], "num_predict": 5,
    }
    assert resp.choices[0].message.content == "word0 word1 word2 word3 word4 "
    assert resp.choices[0].finish_reason == "length"
    resp = client.chat.completions.create(
        model="llama", messages=[{"role": "user", "content": "tokens:10"}], stop="word2")
    assert resp.choices[0].message.content == "word0 word1 "
    assert resp.choices[0].finish_reason == "stop"
    assert ollama_fake.requests[-1].json["options"] == {"num_ctx": 4096, "stop": ["word2"]}


def test_max_completion_tokens_becomes_num_predict(
    client: openai.OpenAI, ollama_fake: FakeUpstream
) -> None:
    resp = client.chat.completions.create(
        model="llama", messages=[{"role": "user", "content": "tokens:5"}],
        max_completion_tokens=2)
    assert ollama_fake.requests[-1].json["options"]["num_predict"] == 2
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage is not None and resp.usage.completion_tokens == 2


def test_ndjson_stream_becomes_sse(client: openai.OpenAI, ollama_fake: FakeUpstream) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="llama", messages=[{"role": "user", "content": "tokens:5"}], stream=True,
        stream_options={"include_usage": True})
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["x-proxy-provider"] == "llama"
    chunks = stream_chunks(raw)
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in with_choices) == (
        "word0 word1 word2 word3 word4")
    assert [c.choices[0].finish_reason for c in with_choices if c.choices[0].finish_reason] == [
        "stop"]
    assert all(c.object == "chat.completion.chunk" and c.model == "llama3.2" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (1, 5)
    sent = ollama_fake.requests[-1].json
    assert sent["stream"] is True and "stream_options" not in sent
    assert headers_of(ollama_fake)["accept"] == "application/x-ndjson"


async def test_async_stream_and_length(aclient: openai.AsyncOpenAI, ollama_fake: FakeUpstream) -> None:
    stream = await aclient.chat.completions.create(
        model="llama", messages=[{"role": "user", "content": "tokens:8"}], max_tokens=3,
        stream=True)
    chunks = [c async for c in stream]
    assert all(c.choices for c in chunks)  # no usage chunk unless asked for
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "word0 word1 word2 "
    assert chunks[-1].choices[0].finish_reason == "length"
    assert ollama_fake.requests[-1].json["options"]["num_predict"] == 3


def test_tools_and_follow_up(client: openai.OpenAI, ollama_fake: FakeUpstream) -> None:
    messages: list[Any] = [{"role": "user", "content": "call tool now"}]
    resp = client.chat.completions.create(model="llama", messages=messages,
                                          tools=[WEATHER_TOOL])
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    call = calls[0]
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    assert call.function.name == "get_weather"
    assert isinstance(call.function.arguments, str)
    assert json.loads(call.function.arguments) == TOOL_ARGUMENTS
    assert call.id
    assert ollama_fake.requests[-1].json["tools"] == [WEATHER_TOOL]

    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "22 degrees"},
    ]
    follow = client.chat.completions.create(model="llama", messages=messages,
                                            tools=[WEATHER_TOOL])
    assert follow.choices[0].finish_reason == "stop"
    assert follow.choices[0].message.content == " ".join(f"word{i}" for i in range(12))
    sent = ollama_fake.requests[-1].json["messages"]
    assert sent[1] == {"role": "assistant", "tool_calls": [
        {"function": {"name": "get_weather", "arguments": TOOL_ARGUMENTS}}]}
    assert sent[2] == {"role": "tool", "content": "22 degrees", "tool_name": "get_weather"}


def test_streaming_tool_call(client: openai.OpenAI, ollama_fake: FakeUpstream) -> None:
    with client.chat.completions.stream(
        model="llama", messages=[{"role": "user", "content": "call tool"}],
        tools=[WEATHER_TOOL],
    ) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    assert json.loads(calls[0].function.arguments) == TOOL_ARGUMENTS
    assert ollama_fake.requests[-1].json["stream"] is True


def test_embeddings_via_api_embed(client: openai.OpenAI, ollama_fake: FakeUpstream) -> None:
    raw = client.embeddings.with_raw_response.create(model="nomic", input=["alpha", "beta gamma"])
    resp = raw.parse()
    assert raw.headers["x-proxy-provider"] == "llama"
    assert [d.index for d in resp.data] == [0, 1]
    assert resp.data[0].embedding == pytest.approx(embedding("alpha"))
    assert resp.data[1].embedding == pytest.approx(embedding("beta gamma"))
    assert resp.model == "nomic-embed-text"
    assert resp.usage.prompt_tokens == 3
    seen = ollama_fake.requests[-1]
    assert seen.path == "/api/embed"
    assert seen.json == {"model": "nomic-embed-text", "input": ["alpha", "beta gamma"]}
    assert "authorization" not in headers_of(ollama_fake)


async def test_async_embeddings_single_input_with_dimensions(
    aclient: openai.AsyncOpenAI, ollama_fake: FakeUpstream
) -> None:
    resp = await aclient.embeddings.create(model="nomic", input="hello", dimensions=4,
                                           encoding_format="float")
    assert len(resp.data) == 1
    assert resp.data[0].embedding == pytest.approx(embedding("hello", 4))
    assert ollama_fake.requests[-1].json == {"model": "nomic-embed-text", "input": "hello",
                                             "dimensions": 4}


def test_legacy_completions(client: openai.OpenAI, ollama_fake: FakeUpstream) -> None:
    resp = client.completions.create(model="llama", prompt="tokens:3")
    assert resp.choices[0].text == "word0 word1 word2"
    assert ollama_fake.requests[-1].json["messages"] == [{"role": "user", "content": "tokens:3"}]


def test_upstream_model_not_found_is_a_404(client: openai.OpenAI, ollama_fake: FakeUpstream) -> None:
    ollama_fake.add_fault(status=404, message="model 'llama3.2' not found, try pulling it first")
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="llama",
                                       messages=[{"role": "user", "content": "hi"}])
    body = info.value.body
    assert isinstance(body, dict) and "not found" in body["message"]


def test_image_data_url_and_tool_choice_none(client: openai.OpenAI, ollama_fake: FakeUpstream) -> None:
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    resp = client.chat.completions.create(model="llama", messages=[{"role": "user", "content": [
        {"type": "text", "text": "echo:what is"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "text", "text": "this"},
    ]}], tools=[WEATHER_TOOL], tool_choice="none")
    assert resp.choices[0].message.content == "what is\nthis"
    sent = ollama_fake.requests[-1].json
    assert sent["messages"] == [{"role": "user", "content": "echo:what is\nthis",
                                 "images": [png]}]
    assert "tools" not in sent


def test_stream_error_line_without_a_next_hop_is_an_in_band_error(
    client: openai.OpenAI, ollama_fake: FakeUpstream
) -> None:
    ollama_fake.add_fault(error_event_after_chunks=2)
    received, finishes = "", []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(
            model="llama", messages=[{"role": "user", "content": "tokens:6"}], stream=True
        ):
            for choice in chunk.choices:
                received += choice.delta.content or ""
                if choice.finish_reason:
                    finishes.append(choice.finish_reason)
    assert received == "word0 word1 "
    assert finishes == []
