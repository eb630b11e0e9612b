"""Stream resume across shapes: Anthropic events relayed natively and OpenAI chunks."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.resume import PrefixSkipper, ResumeMismatch, StreamText
from supervisors.messages import Chunk

pytestmark = pytest.mark.timeout(5)


def ev(kind: str, **fields: Any) -> Chunk:
    return Chunk({"type": kind, **fields})


def text(t: str, index: int = 0) -> Chunk:
    return ev("content_block_delta", index=index, delta={"type": "text_delta", "text": t})


def chat(content: str | None = None, finish: str | None = None, **delta: Any) -> Chunk:
    if content is not None:
        delta["content"] = content
    return Chunk({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


START = ev("message_start", message={"id": "msg_1", "usage": {"input_tokens": 3}})
TEXT_BLOCK = ev("content_block_start", index=0, content_block={"type": "text", "text": ""})
THINKING = [
    ev("content_block_start", index=0, content_block={"type": "thinking", "thinking": ""}),
    ev("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "hm"}),
    ev("content_block_delta", index=0, delta={"type": "signature_delta", "signature": "s"}),
    ev("content_block_stop", index=0),
]


def test_native_text_is_tracked_and_resumable() -> None:
    tracked = StreamText("messages")
    tracked.track([START, *THINKING, TEXT_BLOCK, ev("ping"), text("Hello"), text(" world")])
    assert tracked.value == "Hello world"
    assert tracked.resumable and tracked.finish is None
    tracked.track([ev("content_block_stop", index=1),
                   ev("message_delta", delta={"stop_reason": "end_turn"})])
    assert tracked.finish == "end_turn"


@pytest.mark.parametrize("chunk", [
    ev("content_block_start", index=1, content_block={"type": "tool_use", "id": "t",
                                                      "name": "n", "input": {}}),
    ev("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": "{"}),
    ev("content_block_start", index=1, content_block={"type": "server_tool_use"}),
    chat(tool_calls=[{"index": 0, "id": "c", "function": {"name": "f", "arguments": ""}}]),
])
def test_tool_calls_make_a_stream_not_resumable(chunk: Chunk) -> None:
    tracked = StreamText("messages")
    tracked.track([START, TEXT_BLOCK, text("a"), chunk])
    assert not tracked.resumable


def test_a_native_stream_resumed_on_a_translated_one() -> None:
    tracked = StreamText("messages")
    tracked.track([START, TEXT_BLOCK, text("Hello wor")])
    skipper = PrefixSkipper("chat", tracked.value)
    out = skipper.filter([chat("", role="assistant"), chat("Hello "), chat("world"),
                          chat("!"), chat(finish="stop")])
    assert [c.obj["choices"][0]["delta"].get("content") for c in out] == ["ld", "!", None]
    assert skipper.passed
    tracked.track(out)
    assert tracked.value == "Hello world!" and tracked.finish == "stop"


def test_a_translated_stream_resumed_on_a_native_one() -> None:
    tracked = StreamText("chat")
    tracked.track([chat("", role="assistant"), chat("Hello wor")])
    skipper = PrefixSkipper("messages", tracked.value)
    fresh = [START, *THINKING, TEXT_BLOCK.__class__({**TEXT_BLOCK.obj, "index": 1}),
             ev("ping"), text("Hello ", 1), text("world", 1),
             ev("content_block_stop", index=1),
             ev("message_delta", delta={"stop_reason": "end_turn"}), ev("message_stop")]
    out = skipper.filter(fresh)
    # message_start and the text block start go through for the front end to fold in;
    # the thinking block and ping are left out
    assert [c.obj for c in out[:3]] == [
        START.obj,
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "text_delta", "text": "ld"}},
    ]
    assert [c.obj["type"] for c in out[3:]] == ["content_block_stop", "message_delta",
                                                "message_stop"]


def test_a_text_in_the_block_start_counts_too() -> None:
    skipper = PrefixSkipper("messages", "Hi there")
    out = skipper.filter([ev("content_block_start", index=0,
                             content_block={"type": "text", "text": "Hi there, you"})])
    assert out[0].obj["content_block"] == {"type": "text", "text": ""}
    assert out[1].obj["delta"]["text"] == ", you"


@pytest.mark.parametrize("fresh", [
    [START, TEXT_BLOCK, text("Goodbye")],
    [START, ev("content_block_start", index=0, content_block={"type": "tool_use"})],
    [START, TEXT_BLOCK, text("Hel"), ev("message_delta", delta={"stop_reason": "end_turn"})],
    [START, TEXT_BLOCK, text("Hel"), ev("message_stop")],
])
def test_a_native_answer_that_differs_is_a_mismatch(fresh: list[Chunk]) -> None:
    with pytest.raises(ResumeMismatch):
        PrefixSkipper("messages", "Hello").filter(fresh)


def test_long_streams_keep_their_text_exact_in_a_few_strings() -> None:
    tracked = StreamText("chat")
    sent = []
    for i in range(100):
        tracked.track([chat(f"{i} ")] if i % 3 else [chat(f"{i} "), chat("x")])
        sent.append(f"{i} " if i % 3 else f"{i} x")
        if i == 50:
            assert tracked.value == "".join(sent)  # read mid-stream, then it goes on
    assert len(tracked._blocks) + len(tracked._parts) < 10
    assert tracked.value == "".join(sent)
