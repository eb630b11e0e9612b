"""The ``messages`` / ``count_tokens`` ops of the anthropic adapter: relayed as they are."""

from __future__ import annotations

import json
from typing import Any

import pytest

from supervisors.adapters.anthropic import AnthropicAdapter
from supervisors.adapters.openai import OpenAIAdapter
from supervisors.errors import StreamBroken, UpstreamError
from supervisors.messages import Chunk
from supervisors.worker import has_content

from . import SPLITS, load, make_spec, raw, run_decoder, sent

pytestmark = pytest.mark.timeout(5)

ADAPTER = AnthropicAdapter()
SPEC = make_spec("anthropic", "https://api.anthropic.test/", headers={"X-Team": "a"})
STREAMS = load("anthropic/streams.json")
TABLE = [(case, split) for case in STREAMS for split in SPLITS]

CLAUDE_CODE_BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 32000,
    "stream": True,
    "system": [{"type": "text", "text": "You are Claude Code.",
                "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": [
        {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                        "data": "a doc"}, "citations": {"enabled": True}},
        {"type": "some_future_block", "x": [1, 2]},
    ]}],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "context_management": {"edits": [{"type": "clear_thinking_20251015"}]},
    "output_config": {"effort": "high"},
    "metadata": {"user_id": "u"},
    "unknown_future_field": {"a": 1},
}


@pytest.mark.parametrize(("op", "path"), [("messages", "/v1/messages"),
                                          ("count_tokens", "/v1/messages/count_tokens")])
def test_native_request_is_the_body_as_given(op: str, path: str) -> None:
    req = ADAPTER.build_request(op, CLAUDE_CODE_BODY, stream=op == "messages", spec=SPEC,
                                key="sk-ant-1")
    assert req.method == "POST"
    assert req.url == "https://api.anthropic.test" + path
    assert sent(req) == CLAUDE_CODE_BODY
    assert req.headers["x-api-key"] == "sk-ant-1"
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.headers["x-team"] == "a"
    assert req.headers["accept"] == ("text/event-stream" if op == "messages"
                                     else "application/json")


def test_native_ops_only_on_anthropic() -> None:
    assert {"messages", "count_tokens"} <= ADAPTER.ops
    assert not {"messages", "count_tokens"} & OpenAIAdapter().ops


def test_native_answer_keeps_its_bytes() -> None:
    body = json.dumps({"id": "msg_1", "type": "message", "role": "assistant", "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "sig=="},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "hi", "citations": [{"type": "char_location"}]},
    ], "usage": {"input_tokens": 3, "output_tokens": 2, "cache_read_input_tokens": 7}}).encode()
    result = ADAPTER.parse_response("messages", body, CLAUDE_CODE_BODY)
    assert result.raw == body
    assert result.obj["content"][0]["signature"] == "sig=="
    counted = ADAPTER.parse_response("count_tokens", b'{"input_tokens": 12}', {})
    assert counted.obj == {"input_tokens": 12}
    with pytest.raises(UpstreamError):
        ADAPTER.parse_response("messages", b'{"type": "error", "error": {"message": "x"}}', {})


@pytest.mark.parametrize(
    ("case", "split"), TABLE, ids=[f"{case['name']} / {split}" for case, split in TABLE]
)
def test_native_stream_relays_every_event(case: dict[str, Any], split: str) -> None:
    data = raw("anthropic/" + case["file"])
    decoder = ADAPTER.stream_decoder("messages", {})
    chunks, error = run_decoder(decoder, SPLITS[split](data))
    expected, malformed = _events(data)
    if "error" in case:
        assert isinstance(error, StreamBroken)
        assert error.retryable is case["error"]["retryable"]
        expected = expected[: next(i for i, e in enumerate(expected) if e["type"] == "error")]
    else:
        assert error is None
    assert [c.obj for c in chunks] == expected
    assert all(json.loads(c.raw or b"") == c.obj for c in chunks)
    assert decoder.done is case["done"]
    assert decoder.malformed == malformed
    # usage in OpenAI form, for accounting, the same as the translating decoder reports
    assert decoder.usage == case["usage"]


def _events(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """Every well-formed JSON event of an SSE body (the test's own plain parser)."""
    events, malformed = [], 0
    for block in data.replace(b"\r\n", b"\n").split(b"\n\n"):
        lines = [ln[5:].strip() for ln in block.split(b"\n") if ln.startswith(b"data:")]
        if not lines:
            continue
        try:
            events.append(json.loads(b"\n".join(lines)))
        except json.JSONDecodeError:
            malformed += 1
    return events, malformed


@pytest.mark.parametrize(("event", "content"), [
    ({"type": "message_start", "message": {}}, False),
    ({"type": "ping"}, False),
    ({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
     False),
    ({"type": "content_block_start", "index": 0,
      "content_block": {"type": "thinking", "thinking": ""}}, False),
    ({"type": "content_block_start", "index": 0,
      "content_block": {"type": "tool_use", "id": "t", "name": "n", "input": {}}}, True),
    ({"type": "content_block_delta", "index": 0,
      "delta": {"type": "text_delta", "text": "a"}}, True),
    ({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}, True),
    ({"type": "content_block_stop", "index": 0}, False),
])
def test_first_token_of_a_native_stream(event: dict[str, Any], content: bool) -> None:
    assert has_content(Chunk(event)) is content
