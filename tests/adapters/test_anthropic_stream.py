from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from supervisors.adapters.anthropic import AnthropicAdapter
from supervisors.errors import StreamBroken

from . import SPLITS, load, raw, run_decoder

pytestmark = pytest.mark.timeout(5)

ADAPTER = AnthropicAdapter()
STREAMS = load("anthropic/streams.json")
TABLE = [(case, split) for case in STREAMS for split in SPLITS]


@pytest.mark.parametrize(
    ("case", "split"), TABLE, ids=[f"{case['name']} / {split}" for case, split in TABLE]
)
def test_stream_translation_table(case: dict[str, Any], split: str) -> None:
    decoder = ADAPTER.stream_decoder("chat", case["request"])
    chunks, error = run_decoder(decoder, SPLITS[split](raw("anthropic/" + case["file"])))
    assert [c.obj for c in chunks] == case["chunks"]
    assert decoder.done is case["done"]
    assert decoder.usage == case["usage"]
    assert decoder.malformed == case["malformed"]
    if "error" in case:
        assert isinstance(error, StreamBroken)
        assert error.message == case["error"]["message"]
        assert error.retryable is case["error"]["retryable"]
        assert error.code == case["error"]["code"]
        assert error.failover
    else:
        assert error is None
    for c in chunks:
        ChatCompletionChunk.model_validate(c.obj)
    if not decoder.done:  # a cut stream is never presented as finished
        assert not any(ch["finish_reason"] for c in chunks for ch in c.obj["choices"])


def test_first_chunk_carries_the_assistant_role() -> None:
    for case in STREAMS:
        assert case["chunks"][0]["choices"][0]["delta"]["role"] == "assistant", case["name"]


def test_chunks_before_an_error_event_come_out_before_the_error() -> None:
    decoder = ADAPTER.stream_decoder("chat", {"model": "m", "messages": []})
    chunks = decoder.feed(raw("anthropic/stream_overloaded.sse"))
    assert [c.obj["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "Once upon"},
    ]
    with pytest.raises(StreamBroken, match="Overloaded"):
        decoder.close()


@pytest.mark.parametrize(
    ("kind", "retryable"),
    [("overloaded_error", True), ("api_error", True), ("invalid_request_error", False)],
)
def test_error_event_retry_semantics(kind: str, retryable: bool) -> None:
    decoder = ADAPTER.stream_decoder("chat", {"model": "m", "messages": []})
    event = {"type": "error", "error": {"type": kind, "message": "it broke"}}
    with pytest.raises(StreamBroken) as info:
        decoder.feed(b"event: error\ndata: " + json.dumps(event).encode() + b"\n\n")
    assert info.value.retryable is retryable
    assert info.value.message == f"upstream stream error ({kind}): it broke"


def test_usage_sums_message_start_input_and_message_delta_output() -> None:
    decoder = ADAPTER.stream_decoder("chat", {"model": "m", "messages": []})
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "model": "m",
                "content": [],
                "usage": {"input_tokens": 100, "cache_read_input_tokens": 50, "output_tokens": 1},
            },
        },
        # a zero from a gateway that fills every field must not erase the input count
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"input_tokens": 0, "output_tokens": 30},
        },
    ]
    decoder.feed(b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events))
    assert decoder.usage == {
        "prompt_tokens": 150,
        "completion_tokens": 30,
        "total_tokens": 180,
        "prompt_tokens_details": {"cached_tokens": 50},
    }
    assert not decoder.done


def test_legacy_completion_stream() -> None:
    request = {
        "model": "claude-sonnet-4-6",
        "prompt": "Say hello",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    decoder = ADAPTER.stream_decoder("completions", request)
    chunks, error = run_decoder(decoder, [raw("anthropic/stream_text.sse")])
    assert error is None
    base = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "object": "text_completion",
        "created": 0,
        "model": "claude-sonnet-4-6",
    }
    assert [c.obj for c in chunks] == [
        {
            **base,
            "choices": [{"text": "Héllo 👋", "index": 0, "logprobs": None, "finish_reason": None}],
        },
        {
            **base,
            "choices": [
                {"text": " wörld — 日本語", "index": 0, "logprobs": None, "finish_reason": None}
            ],
        },
        {**base, "choices": [{"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}]},
        {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40},
        },
    ]
    assert decoder.done and decoder.usage == {
        "prompt_tokens": 25,
        "completion_tokens": 15,
        "total_tokens": 40,
    }


# -- checked against the official SDKs -------------------------------------------------


def sdk_final_message(sse: bytes) -> anthropic.types.Message:
    """What the Anthropic SDK makes of the recorded event stream."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=sse, headers={"content-type": "text/event-stream"})

    with (
        anthropic.Anthropic(
            api_key="k",
            base_url="http://127.0.0.1:9",
            max_retries=0,
            http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        ) as client,
        client.messages.stream(
            model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": "x"}]
        ) as stream,
    ):
        return stream.get_final_message()


# the SDK itself chokes on malformed events, so only well-formed complete streams
SUCCESSFUL = [c for c in STREAMS if c["done"] and "error" not in c and not c["malformed"]]


@pytest.mark.parametrize("case", SUCCESSFUL, ids=[c["name"] for c in SUCCESSFUL])
def test_openai_sdk_accumulates_what_the_anthropic_sdk_accumulates(case: dict[str, Any]) -> None:
    sse = raw("anthropic/" + case["file"])
    message = sdk_final_message(sse)
    decoder = ADAPTER.stream_decoder("chat", case["request"])
    state = ChatCompletionStreamState()
    for c in decoder.feed(sse) + decoder.close():
        state.handle_chunk(ChatCompletionChunk.model_validate(c.obj))
    final = state.get_final_completion()
    choice = final.choices[0]
    text = "".join(b.text for b in message.content if b.type == "text")
    if case["request"]["messages"][-1]["role"] == "assistant":  # prefill: whitespace cut once
        text = text.removeprefix(" ")
    assert (choice.message.content or "") == text
    calls = [b for b in message.content if b.type == "tool_use"]
    assert [
        (t.id, t.function.name, json.loads(t.function.arguments))
        for t in choice.message.tool_calls or []
    ] == [(b.id, b.name, b.input) for b in calls]
    assert final.id == message.id and final.model == message.model
    assert final.usage is None or final.usage.completion_tokens == message.usage.output_tokens


def test_anthropic_sdk_raises_on_the_recorded_error_event_too() -> None:
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        sdk_final_message(raw("anthropic/stream_overloaded.sse"))
