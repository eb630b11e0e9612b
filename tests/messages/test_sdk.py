"""The official ``anthropic`` SDK against the gateway, on every provider type: the same
conversations streamed (``messages.stream()``) and not, and the two must agree."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from anthropic.types import Message

from tests.fakes import TOOL_ARGUMENTS, FakeUpstream

from .conftest import ALIASES

pytestmark = pytest.mark.timeout(30)

TINY_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
            "AAAABJRU5ErkJggg==")
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"},
                                                      "unit": {"type": "string"}},
                     "required": ["city"]},
}
#: the fakes answer "tokens:N" with N words; the mock echoes the prompt
PROMPT = "tokens:6"


def _ask(client: anthropic.Anthropic, stream: bool, **kw: Any) -> Message:
    if stream:
        with client.messages.stream(**kw) as s:
            return s.get_final_message()
    return client.messages.create(**kw)


def _same(streamed: Message, whole: Message) -> None:
    """Equal but for the ids two separate upstream answers have (message, tool calls)."""
    a, b = streamed.model_dump(exclude={"id"}), whole.model_dump(exclude={"id"})
    for dump in (a, b):
        for block in dump["content"]:
            if block["type"] == "tool_use":
                assert block.pop("id")
    assert a == b
    assert streamed.id.startswith("msg_") and whole.id.startswith("msg_")


def _text(message: Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


CASES: dict[str, dict[str, Any]] = {
    "plain": {"messages": [{"role": "user", "content": PROMPT}]},
    "system": {"system": "Be brief.", "messages": [{"role": "user", "content": PROMPT}]},
    "system blocks": {"system": [{"type": "text", "text": "Be brief.",
                                  "cache_control": {"type": "ephemeral"}}],
                      "messages": [{"role": "user", "content": PROMPT}]},
    "image": {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": TINY_PNG}},
        {"type": "text", "text": PROMPT}]}]},
    "stop sequence": {"stop_sequences": ["word3"],
                      "messages": [{"role": "user", "content": PROMPT}]},
    "max_tokens": {"max_tokens": 3, "messages": [{"role": "user", "content": PROMPT}]},
}


@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("case", list(CASES))
def test_streamed_equals_whole(client: anthropic.Anthropic, fakes: dict[str, FakeUpstream],
                               alias: str, case: str) -> None:
    kw: dict[str, Any] = {"model": alias, "max_tokens": 100, **CASES[case]}
    whole = _ask(client, False, **kw)
    streamed = _ask(client, True, **kw)
    _same(streamed, whole)
    assert whole.role == "assistant" and whole.type == "message"
    assert whole.usage.output_tokens > 0 and whole.usage.input_tokens > 0
    text = _text(whole)
    if case == "max_tokens":
        assert whole.stop_reason == "max_tokens"
        expected = "word0 word1 word2 " if alias != "mock" else "This is a "
        assert text == expected
    elif case == "stop sequence" and alias != "mock":
        assert text == "word0 word1 word2 "
        if alias == "claude":  # OpenAI-style upstreams do not say which sequence matched
            assert (whole.stop_reason, whole.stop_sequence) == ("stop_sequence", "word3")
        else:
            assert whole.stop_reason == "end_turn"
    elif alias != "mock":
        assert text == "word0 word1 word2 word3 word4 word5"
        assert whole.stop_reason == "end_turn"
    else:
        assert text.startswith("This is a mock response to:")
        assert whole.stop_reason == "end_turn"


@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("stream", [False, True])
def test_two_turn_tool_conversation(client: anthropic.Anthropic,
                                    fakes: dict[str, FakeUpstream], alias: str,
                                    stream: bool) -> None:
    first_turn: list[Any] = [{"role": "user", "content": 'call tool with {"city": "Paris", '
                                                         '"unit": "c"}'}]
    first = _ask(client, stream, model=alias, max_tokens=100, tools=[WEATHER],
                 messages=first_turn)
    _same(first, _ask(client, not stream, model=alias, max_tokens=100, tools=[WEATHER],
                      messages=first_turn))
    assert first.stop_reason == "tool_use"
    calls = [b for b in first.content if b.type == "tool_use"]
    assert len(calls) == 1
    assert calls[0].name == "get_weather" and calls[0].input == TOOL_ARGUMENTS
    second_turn = [*first_turn, {"role": "assistant", "content": first.content},
                   {"role": "user", "content": [
                       {"type": "tool_result", "tool_use_id": calls[0].id,
                        "content": [{"type": "text", "text": "sunny, 21 C"}]},
                       {"type": "text", "text": "tokens:4"}]}]
    second = _ask(client, stream, model=alias, max_tokens=100, tools=[WEATHER],
                  messages=second_turn)
    _same(second, _ask(client, not stream, model=alias, max_tokens=100, tools=[WEATHER],
                       messages=second_turn))
    assert second.stop_reason == "end_turn"
    expected = "This is a mock response to: tokens:4" if alias == "mock" else \
        "word0 word1 word2 word3"
    assert _text(second) == expected


def test_tool_result_history_on_the_mock(client: anthropic.Anthropic) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                                           "name": "get_weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": "rain", "is_error": False},
                                     {"type": "text", "text": "and now?"}]},
    ]
    whole = _ask(client, False, model="mock", max_tokens=50, tools=[WEATHER], messages=messages)
    _same(_ask(client, True, model="mock", max_tokens=50, tools=[WEATHER], messages=messages),
          whole)
    assert _text(whole) == "This is a mock response to: and now?"


@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("case", list(CASES))
async def test_async_client_streams_and_not(aclient: anthropic.AsyncAnthropic,
                                            fakes: dict[str, FakeUpstream], alias: str,
                                            case: str) -> None:
    kw: dict[str, Any] = {"model": alias, "max_tokens": 100, **CASES[case]}
    whole = await aclient.messages.create(**kw)
    async with aclient.messages.stream(**kw) as s:
        texts = [t async for t in s.text_stream]
        streamed = await s.get_final_message()
    _same(streamed, whole)
    assert "".join(texts) == _text(whole)


def test_translated_request_as_the_openai_upstream_sees_it(
    client: anthropic.Anthropic, fakes: dict[str, FakeUpstream]
) -> None:
    raw = client.messages.with_raw_response.create(
        model="gpt", max_tokens=64, stop_sequences=["x"],
        metadata={"user_id": "u-1"},
        system=[{"type": "text", "text": "Sys one."}, {"type": "text", "text": "Sys two."}],
        tools=[WEATHER, {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "hello", "cache_control": {"type": "ephemeral"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.test/a.png"}}]}],
        output_config={"effort": "low"},
        extra_body={"context_management": {"edits": []}, "temperature": 0.5, "top_p": 0.9},
    )
    assert raw.headers["x-proxy-ignored-tools"] == "web_search"
    assert raw.headers["x-proxy-provider"] == "gpt"
    sent = fakes["openai"].requests[-1].json
    assert sent == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Sys one.\nSys two."},
            {"role": "user", "content": [
                {"type": "text", "text": "hello"},
                {"type": "image_url", "image_url": {"url": "https://example.test/a.png"}}]},
        ],
        "max_completion_tokens": 64, "temperature": 0.5, "top_p": 0.9, "stop": ["x"],
        "user": "u-1",
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "parameters": WEATHER["input_schema"],
            "description": "Weather for a city"}}],
        "tool_choice": "auto", "parallel_tool_calls": False,
    }


def test_count_tokens_native_and_estimated(client: anthropic.Anthropic,
                                           fakes: dict[str, FakeUpstream]) -> None:
    messages: list[Any] = [{"role": "user", "content": "one two three four five"}]
    native = client.messages.count_tokens(model="claude", messages=messages,
                                          system="You are brief.")
    assert native.input_tokens == 8  # the fake counts words
    assert fakes["anthropic"].requests[-1].path == "/v1/messages/count_tokens"
    assert fakes["anthropic"].requests[-1].json["model"] == "claude-sonnet-4-5"
    for alias in ("gpt", "llama", "mock"):
        estimate = client.messages.count_tokens(model=alias, messages=messages,
                                                system="You are brief.")
        # cl100k: "one two three four five" = 5, "You are brief." = 4, + framing
        assert estimate.input_tokens == 5 + 4 + 4
    assert not fakes["openai"].requests and not fakes["ollama"].requests
