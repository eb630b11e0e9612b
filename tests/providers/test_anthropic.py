"""The `anthropic` provider end to end: the official `openai` SDK → the real gateway →
the strict fake Messages API, asserting on both the answer and what the fake received."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

from tests.fakes import TOOL_ARGUMENTS, FakeUpstream

from .conftest import ANTHROPIC_KEY
from .observe import headers_of, stream_chunks

pytestmark = pytest.mark.timeout(30)

WEATHER_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                        "unit": {"type": "string"}},
                       "required": ["city"]},
    },
}
TINY_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def test_chat_text_sends_key_version_and_default_max_tokens(
    client: openai.OpenAI, anthropic_fake: FakeUpstream
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="claude", messages=[{"role": "user", "content": "tokens:5"}])
    resp = raw.parse()
    assert resp.choices[0].message.content == "word0 word1 word2 word3 word4"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "claude-sonnet-4-5"
    assert resp.id.startswith("msg_")
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (1, 5)
    assert raw.headers["x-proxy-provider"] == "claude"
    assert raw.headers["x-proxy-attempts"] == "1"
    seen = anthropic_fake.requests[-1]
    assert seen.path == "/v1/messages"
    assert seen.json == {"model": "claude-sonnet-4-5", "max_tokens": 4096,
                         "messages": [{"role": "user", "content": "tokens:5"}]}
    headers = headers_of(anthropic_fake)
    assert headers["x-api-key"] == ANTHROPIC_KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    assert headers.get("x-request-id") == raw.headers["x-request-id"]


def test_system_developer_and_same_role_messages_are_merged(
    client: openai.OpenAI, anthropic_fake: FakeUpstream
) -> None:
    # the fake rejects consecutive same-role messages (400), so a 200 proves the merge
    resp = client.chat.completions.create(model="claude", messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "tokens:2"},
        {"role": "assistant", "content": "word0"},
        {"role": "assistant", "content": "word1"},
        {"role": "developer", "content": "Answer in English."},
        {"role": "user", "content": "echo:one "},
        {"role": "user", "content": "two"},
    ])
    assert resp.choices[0].message.content == "one two"
    body = anthropic_fake.requests[-1].json
    assert body["system"] == "Be brief.\n\nAnswer in English."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [{"type": "text", "text": "word0"},
                                              {"type": "text", "text": "word1"}]
    assert body["messages"][2]["content"] == [{"type": "text", "text": "echo:one "},
                                              {"type": "text", "text": "two"}]


def test_max_tokens_from_mapping_config_provider_default_and_client(
    client: openai.OpenAI, anthropic_fake: FakeUpstream
) -> None:
    user: list[ChatCompletionMessageParam] = [{"role": "user", "content": "tokens:3"}]
    client.chat.completions.create(model="claude-mt", messages=user)
    mapped = anthropic_fake.requests[-1].json
    assert (mapped["model"], mapped["max_tokens"], mapped["temperature"]) == (
        "claude-haiku-4-5", 77, 0.2)
    client.chat.completions.create(model="claude-short", messages=user)
    assert anthropic_fake.requests[-1].json["max_tokens"] == 64
    # the client's own value wins over the mapping's default
    resp = client.chat.completions.create(model="claude-mt", messages=user, max_tokens=2,
                                          temperature=0.9)
    assert anthropic_fake.requests[-1].json["max_tokens"] == 2
    assert anthropic_fake.requests[-1].json["temperature"] == 0.9
    assert resp.choices[0].message.content == "word0 word1 "
    assert resp.choices[0].finish_reason == "length"


def test_stop_sequences_and_finish_reason_stop(
    client: openai.OpenAI, anthropic_fake: FakeUpstream
) -> None:
    resp = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "tokens:6"}], stop=["word3"])
    assert resp.choices[0].message.content == "word0 word1 word2 "
    assert resp.choices[0].finish_reason == "stop"
    assert anthropic_fake.requests[-1].json["stop_sequences"] == ["word3"]
    client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "tokens:2"}], stop="END")
    assert anthropic_fake.requests[-1].json["stop_sequences"] == ["END"]


def test_unicode_multipart_and_image_content(
    client: openai.OpenAI, anthropic_fake: FakeUpstream
) -> None:
    text = "héllo wörld 🌍 中文 Ωμέγα"
    resp = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "echo:" + text}])
    assert resp.choices[0].message.content == text
    assert anthropic_fake.requests[-1].json["messages"][0]["content"] == "echo:" + text
    resp = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": [
        {"type": "text", "text": "echo:part one "},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{TINY_PNG}"}},
        {"type": "text", "text": "part two"},
    ]}])
    assert resp.choices[0].message.content == "part one part two"
    assert anthropic_fake.requests[-1].json["messages"][0]["content"] == [
        {"type": "text", "text": "echo:part one "},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": TINY_PNG}},
        {"type": "text", "text": "part two"},
    ]


def test_tool_call_and_follow_up_turn(client: openai.OpenAI, anthropic_fake: FakeUpstream) -> None:
    messages: list[Any] = [{"role": "user", "content": "please call tool"}]
    resp = client.chat.completions.create(
        model="claude", messages=messages, tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    call = calls[0]
    assert call.type == "function" and call.id.startswith("toolu_")
    assert call.function.name == "get_weather"
    assert isinstance(call.function.arguments, str)
    assert json.loads(call.function.arguments) == TOOL_ARGUMENTS
    sent = anthropic_fake.requests[-1].json
    assert sent["tools"] == [{"name": "get_weather", "description": "Weather for a city",
                              "input_schema": WEATHER_TOOL["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "tool", "name": "get_weather"}

    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "22 degrees"},
    ]
    follow = client.chat.completions.create(model="claude", messages=messages,
                                            tools=[WEATHER_TOOL])
    assert follow.choices[0].finish_reason == "stop"
    assert follow.choices[0].message.content == " ".join(f"word{i}" for i in range(12))
    turns = anthropic_fake.requests[-1].json["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == [{"type": "tool_use", "id": call.id, "name": "get_weather",
                                    "input": TOOL_ARGUMENTS}]
    assert turns[2]["content"] == [{"type": "tool_result", "tool_use_id": call.id,
                                    "content": "22 degrees"}]


@pytest.mark.parametrize(("choice", "sent"), [
    ("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"}),
])
def test_tool_choice_strings(client: openai.OpenAI, anthropic_fake: FakeUpstream,
                             choice: Any, sent: dict[str, str]) -> None:
    client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "tokens:1"}],
        tools=[WEATHER_TOOL], tool_choice=choice)
    assert anthropic_fake.requests[-1].json["tool_choice"] == sent


def test_streaming_text_with_usage(client: openai.OpenAI, anthropic_fake: FakeUpstream) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="claude", messages=[{"role": "user", "content": "tokens:6"}], stream=True,
        stream_options={"include_usage": True})
    assert raw.headers["x-proxy-provider"] == "claude"
    assert raw.headers["content-type"].startswith("text/event-stream")
    chunks = stream_chunks(raw)
    with_choices = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in with_choices) == (
        "word0 word1 word2 word3 word4 word5")
    assert with_choices[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in with_choices if c.choices[0].finish_reason] == [
        "stop"]
    assert all(c.model == "claude-sonnet-4-5" for c in chunks)
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (1, 6)
    sent = anthropic_fake.requests[-1].json
    assert sent["stream"] is True and "stream_options" not in sent
    assert headers_of(anthropic_fake)["accept"] == "text/event-stream"


async def test_async_streaming_text_without_usage(
    aclient: openai.AsyncOpenAI, anthropic_fake: FakeUpstream
) -> None:
    stream = await aclient.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "tokens:4"}], stream=True)
    chunks = [c async for c in stream]
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "word0 word1 word2 word3"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_streaming_tool_call_deltas_reassembled_by_sdk(
    client: openai.OpenAI, anthropic_fake: FakeUpstream
) -> None:
    deltas: list[str] = []
    with client.chat.completions.stream(
        model="claude", messages=[{"role": "user", "content": "call tool"}],
        tools=[WEATHER_TOOL],
    ) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                deltas.append(event.arguments_delta)
        final = stream.get_final_completion()
    assert len([d for d in deltas if d]) >= 2  # arrived in pieces, not as one chunk
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == TOOL_ARGUMENTS
    assert anthropic_fake.requests[-1].json["stream"] is True


async def test_async_streaming_tool_call(
    aclient: openai.AsyncOpenAI, anthropic_fake: FakeUpstream
) -> None:
    stream = await aclient.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "call tool"}],
        tools=[WEATHER_TOOL], stream=True)
    ids, names, arguments, finishes = set(), set(), "", []
    async for chunk in stream:
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or ():
                assert tc.index == 0
                if tc.id:
                    ids.add(tc.id)
                if tc.function and tc.function.name:
                    names.add(tc.function.name)
                arguments += (tc.function.arguments or "") if tc.function else ""
            if choice.finish_reason:
                finishes.append(choice.finish_reason)
    assert len(ids) == 1 and names == {"get_weather"}
    assert json.loads(arguments) == TOOL_ARGUMENTS
    assert finishes == ["tool_calls"]


def test_legacy_completions_via_chat(client: openai.OpenAI, anthropic_fake: FakeUpstream) -> None:
    resp = client.completions.create(model="claude", prompt="tokens:3", max_tokens=10)
    assert resp.object == "text_completion"
    assert resp.choices[0].text == "word0 word1 word2"
    assert resp.choices[0].finish_reason == "stop"
    assert anthropic_fake.requests[-1].json == {
        "model": "claude-sonnet-4-5", "max_tokens": 10,
        "messages": [{"role": "user", "content": "tokens:3"}]}
    stream = client.completions.create(model="claude", prompt="tokens:4", stream=True)
    assert "".join(c.choices[0].text for c in stream if c.choices) == "word0 word1 word2 word3"


def test_embeddings_are_a_clear_400(client: openai.OpenAI, anthropic_fake: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="claude", input="hello")
    assert info.value.status_code == 400
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error"
    assert "anthropic" in body["message"] and "embeddings" in body["message"]
    assert anthropic_fake.stats()["hits"] == 0  # nothing was sent upstream


def test_upstream_529_is_a_502_upstream_error(
    client: openai.OpenAI, anthropic_fake: FakeUpstream
) -> None:
    anthropic_fake.add_fault(status=529)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="claude",
                                       messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 502
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "upstream_error"
    assert "Overloaded" in body["message"]
    assert info.value.response.headers["x-proxy-attempts"] == "1"  # max_retries: 0
    assert anthropic_fake.stats()["hits"] == 1


def test_upstream_429_is_a_429_then_the_key_rests(
    client: openai.OpenAI, anthropic_fake: FakeUpstream
) -> None:
    anthropic_fake.add_fault(status=429, retry_after=30)
    user: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="claude-rl", messages=user)
    assert info.value.status_code == 429
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "rate_limit_error"
    assert "Rate limited" in body["message"]
    assert int(info.value.response.headers["retry-after"]) >= 1
    # the provider's only key now rests for the upstream's Retry-After: the next request
    # is refused by the gateway itself (503 + Retry-After) without calling the upstream
    with pytest.raises(openai.InternalServerError) as again:
        client.chat.completions.create(model="claude-rl", messages=user)
    assert again.value.status_code == 503
    assert 20 <= int(again.value.response.headers["retry-after"]) <= 30
    assert anthropic_fake.stats()["hits"] == 1


def test_upstream_400_is_returned_untouched(
    client: openai.OpenAI, anthropic_fake: FakeUpstream
) -> None:
    reason = "messages.0.content.0.image.source.base64: image exceeds 5 MB maximum"
    anthropic_fake.add_fault(status=400, message=reason)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="claude",
                                       messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 400
    body = info.value.body
    assert isinstance(body, dict)
    assert body["type"] == "invalid_request_error" and body["message"] == reason
    assert anthropic_fake.stats()["hits"] == 1


def test_finish_reason_length_streaming(client: openai.OpenAI, anthropic_fake: FakeUpstream) -> None:
    chunks = list(client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "tokens:9"}], max_tokens=3,
        stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "word0 word1 word2 ")
    assert [c.choices[0].finish_reason for c in chunks if c.choices and
            c.choices[0].finish_reason] == ["length"]
    assert anthropic_fake.requests[-1].json["max_tokens"] == 3


def test_temperature_clamped_user_as_metadata_and_n_rejected(
    client: openai.OpenAI, anthropic_fake: FakeUpstream
) -> None:
    client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}],
                                   temperature=1.7, top_p=0.5, user="user-42", seed=9)
    sent = anthropic_fake.requests[-1].json
    assert (sent["temperature"], sent["top_p"]) == (1, 0.5)
    assert sent["metadata"] == {"user_id": "user-42"}
    assert "seed" not in sent and "user" not in sent
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="claude", n=2,
                                       messages=[{"role": "user", "content": "x"}])
    assert isinstance(info.value.body, dict) and info.value.body["param"] == "n"
    assert anthropic_fake.stats()["hits"] == 1


def test_stream_error_event_without_a_next_hop_is_an_in_band_error(
    client: openai.OpenAI, anthropic_fake: FakeUpstream
) -> None:
    anthropic_fake.add_fault(error_event_after_chunks=2)
    received, finishes = "", []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "tokens:6"}], stream=True
        ):
            for choice in chunk.choices:
                received += choice.delta.content or ""
                if choice.finish_reason:
                    finishes.append(choice.finish_reason)
    assert received == "word0 word1 "  # what arrived before the break
    assert finishes == []  # a truncated answer is never presented as complete
    assert "Overloaded" in info.value.message or "interrupted" in info.value.message


def test_parallel_tool_results_and_trailing_text_merge_into_one_user_turn(
    client: openai.OpenAI, anthropic_fake: FakeUpstream
) -> None:
    calls: list[Any] = [{"id": f"toolu_01call{i}", "type": "function",
              "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}
             for i, city in enumerate(("Paris", "Oslo"))]
    resp = client.chat.completions.create(model="claude", tools=[WEATHER_TOOL], messages=[
        {"role": "user", "content": "call tool for two cities"},
        {"role": "assistant", "content": "Checking both.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "toolu_01call0", "content": "22 degrees"},
        {"role": "tool", "tool_call_id": "toolu_01call1", "content": "3 degrees"},
        {"role": "user", "content": "echo:thanks"},
    ])
    assert resp.choices[0].message.content == "thanks"
    turns = anthropic_fake.requests[-1].json["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == [
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "toolu_01call0", "name": "get_weather",
         "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_01call1", "name": "get_weather",
         "input": {"city": "Oslo"}},
    ]
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_01call0", "content": "22 degrees"},
        {"type": "tool_result", "tool_use_id": "toolu_01call1", "content": "3 degrees"},
        {"type": "text", "text": "echo:thanks"},
    ]


def test_assistant_prefill_is_continued(client: openai.OpenAI, anthropic_fake: FakeUpstream) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "tokens:5"},
                {"role": "assistant", "content": "word0 word1 "}]
    resp = client.chat.completions.create(model="claude", messages=messages)
    assert resp.choices[0].message.content == "word2 word3 word4"
    # the API rejects a final assistant text ending in white space: it was cut
    assert anthropic_fake.requests[-1].json["messages"][-1] == {
        "role": "assistant", "content": "word0 word1"}
    stream = client.chat.completions.create(model="claude", messages=messages, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == (
        "word2 word3 word4")


def test_json_schema_response_format(client: openai.OpenAI, anthropic_fake: FakeUpstream) -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"city": {"type": "string"}}}
    client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "tokens:1"}],
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": schema}})
    assert anthropic_fake.requests[-1].json["output_config"] == {
        "format": {"type": "json_schema", "schema": schema}}


def _stream_text_finish_usage(client: openai.OpenAI) -> tuple[str, list[Any], Any]:
    chunks = list(client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "tokens:5"}], stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks
                if c.choices and c.choices[0].finish_reason]
    return text, finishes, chunks[-1].usage


def test_stream_skips_a_malformed_event(client: openai.OpenAI,
                                        anthropic_fake: FakeUpstream) -> None:
    anthropic_fake.add_fault(malformed_after_chunks=2)
    text, finishes, usage = _stream_text_finish_usage(client)
    assert (text, finishes) == ("word0 word1 word2 word3 word4", ["stop"])
    assert usage is not None and usage.completion_tokens == 5


def test_stream_without_message_stop_is_finalised(client: openai.OpenAI,
                                                  anthropic_fake: FakeUpstream) -> None:
    anthropic_fake.add_fault(no_done=True)  # message_delta (stop_reason, usage) arrived
    text, finishes, _ = _stream_text_finish_usage(client)
    assert (text, finishes) == ("word0 word1 word2 word3 word4", ["stop"])


def test_stream_without_message_stop_still_sends_the_usage_chunk(
    client: openai.OpenAI, anthropic_fake: FakeUpstream
) -> None:
    anthropic_fake.add_fault(no_done=True)
    _, _, usage = _stream_text_finish_usage(client)
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (1, 5)


def test_legacy_completions_stream_with_usage(
    client: openai.OpenAI, anthropic_fake: FakeUpstream
) -> None:
    chunks = list(client.completions.create(model="claude", prompt="tokens:3", stream=True,
                                            stream_options={"include_usage": True}))
    assert all(c.object == "text_completion" for c in chunks)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "word0 word1 word2"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
