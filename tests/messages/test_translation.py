"""Translation tables: Messages requests → chat requests, chat answers and chunks →
messages and events (assembled with the official SDK's own accumulator), errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message

from proxy.messages_api.answer import to_message
from proxy.messages_api.errors import anthropic_error, error_event
from proxy.messages_api.events import MessagesStream
from proxy.messages_api.request import to_chat
from proxy.messages_api.tokens import estimate_tokens
from proxy.router import Trace
from proxy.routing import Hop
from supervisors.errors import (
    AuthenticationFailed,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ProxyError,
    RateLimited,
    StreamBroken,
    Unavailable,
    UpstreamStatusError,
    UpstreamTimeout,
)
from supervisors.messages import Chunk

pytestmark = pytest.mark.timeout(5)

OPENAI = Hop("p", "gpt-4o-mini", provider_type="openai")
OLLAMA = Hop("p", "llama3.2", provider_type="ollama")
O3 = Hop("p", "o3-mini", provider_type="openai")
USER = {"role": "user", "content": "hi"}

REQUESTS: list[tuple[str, Hop, dict[str, Any], dict[str, Any]]] = [
    ("system string, max tokens for openai", OPENAI,
     {"system": "S", "messages": [USER]},
     {"messages": [{"role": "system", "content": "S"}, USER], "max_completion_tokens": 9}),
    ("system blocks + a system message inside messages folded in", OLLAMA,
     {"system": [{"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
                 {"type": "text", "text": "B"}],
      "messages": [{"role": "system", "content": "C"}, USER]},
     {"messages": [{"role": "system", "content": "A\nB\n\nC"}, USER], "max_tokens": 9}),
    ("images base64 and url, text parts", OLLAMA,
     {"messages": [{"role": "user", "content": [
         {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}},
         {"type": "image", "source": {"type": "url", "url": "https://x.test/i.png"}},
         {"type": "text", "text": "what?"}]}]},
     {"messages": [{"role": "user", "content": [
         {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
         {"type": "image_url", "image_url": {"url": "https://x.test/i.png"}},
         {"type": "text", "text": "what?"}]}], "max_tokens": 9}),
    ("tool use and results (string, blocks, is_error), thinking left out", OPENAI,
     {"messages": [USER, {"role": "assistant", "content": [
         {"type": "thinking", "thinking": "t", "signature": "s"},
         {"type": "text", "text": "Let me look."},
         {"type": "tool_use", "id": "tu1", "name": "f", "input": {"a": 1}},
         {"type": "tool_use", "id": "tu2", "name": "g", "input": {}}]},
         {"role": "user", "content": [
             {"type": "tool_result", "tool_use_id": "tu1", "content": "ok"},
             {"type": "tool_result", "tool_use_id": "tu2", "is_error": True,
              "content": [{"type": "text", "text": "boom"}]},
             {"type": "text", "text": "go on"}]}]},
     {"messages": [USER, {"role": "assistant", "content": "Let me look.", "tool_calls": [
         {"id": "tu1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
         {"id": "tu2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
         {"role": "tool", "tool_call_id": "tu1", "content": "ok"},
         {"role": "tool", "tool_call_id": "tu2", "content": "Error: boom"},
         {"role": "user", "content": "go on"}], "max_completion_tokens": 9}),
    ("a tool result's tool_reference blocks left out (Claude Code's tool search)", OPENAI,
     {"messages": [USER, {"role": "assistant", "content": [
         {"type": "tool_use", "id": "tu1", "name": "ToolSearch", "input": {}}]},
         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu1", "content": [
             {"type": "tool_reference", "tool_name": "mcp__docs__search"},
             {"type": "text", "text": "found"}]}]}]},
     {"messages": [USER, {"role": "assistant", "content": None, "tool_calls": [
         {"id": "tu1", "type": "function",
          "function": {"name": "ToolSearch", "arguments": "{}"}}]},
         {"role": "tool", "tool_call_id": "tu1", "content": "found"}],
      "max_completion_tokens": 9}),
    ("tools, tool_choice any without parallel calls, server tools left out", OPENAI,
     {"messages": [USER], "tools": [
         {"name": "f", "description": "F", "input_schema": {"type": "object"},
          "cache_control": {"type": "ephemeral"}},
         {"type": "web_search_20250305", "name": "web_search"},
         {"type": "bash_20250124", "name": "bash"}],
      "tool_choice": {"type": "any", "disable_parallel_tool_use": True}},
     {"messages": [USER], "max_completion_tokens": 9, "tools": [
         {"type": "function", "function": {"name": "f", "parameters": {"type": "object"},
                                           "description": "F"}}],
      "tool_choice": "required", "parallel_tool_calls": False}),
    ("tool_choice tool and none", OLLAMA,
     {"messages": [USER], "tools": [{"name": "f", "input_schema": {"type": "object"}}],
      "tool_choice": {"type": "tool", "name": "f"}},
     {"messages": [USER], "max_tokens": 9, "tools": [
         {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
      "tool_choice": {"type": "function", "function": {"name": "f"}}}),
    ("sampling, stop sequences, user, top_k where the provider has it", OLLAMA,
     {"messages": [USER], "temperature": 0.2, "top_p": 0.5, "top_k": 4,
      "stop_sequences": ["\n\nHuman:"], "metadata": {"user_id": "u"}},
     {"messages": [USER], "max_tokens": 9, "temperature": 0.2, "top_p": 0.5, "top_k": 4,
      "stop": ["\n\nHuman:"], "user": "u"}),
    ("claude-only tuning left out", OPENAI,
     {"messages": [USER], "thinking": {"type": "enabled", "budget_tokens": 2000},
      "context_management": {"edits": []}, "service_tier": "auto", "container": "c",
      "cache_control": {"type": "ephemeral"}, "output_config": {"effort": "high"}},
     {"messages": [USER], "max_completion_tokens": 9}),
    ("effort mapped for a reasoning model", O3,
     {"messages": [USER], "output_config": {"effort": "max"}},
     {"messages": [USER], "max_completion_tokens": 9, "reasoning_effort": "high"}),
    ("thinking budget mapped for a reasoning model, JSON schema output", O3,
     {"messages": [USER], "thinking": {"type": "enabled", "budget_tokens": 8000},
      "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}},
     {"messages": [USER], "max_completion_tokens": 9, "reasoning_effort": "medium",
      "response_format": {"type": "json_schema",
                          "json_schema": {"name": "output", "schema": {"type": "object"}}}}),
    ("documents: text and PDF", OPENAI,
     {"messages": [{"role": "user", "content": [
         {"type": "document", "title": "T", "source": {"type": "text", "data": "body",
                                                      "media_type": "text/plain"}},
         {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                         "data": "JVBE"}}]}]},
     {"messages": [{"role": "user", "content": [
         {"type": "text", "text": "T\n\nbody"},
         {"type": "file", "file": {"filename": "document.pdf",
                                   "file_data": "data:application/pdf;base64,JVBE"}}]}],
      "max_completion_tokens": 9}),
]


@pytest.mark.parametrize(("name", "hop", "body", "expected"), REQUESTS,
                         ids=[r[0] for r in REQUESTS])
def test_request_table(name: str, hop: Hop, body: dict[str, Any],
                       expected: dict[str, Any]) -> None:
    chat, _ = to_chat({"model": "alias", "max_tokens": 9, **body}, hop, stream=False)
    assert chat == {"model": hop.model, **expected}


def test_stream_asks_for_usage_and_ignored_tools_are_named() -> None:
    chat, ignored = to_chat({"model": "a", "max_tokens": 5, "messages": [USER], "tools": [
        {"type": "web_search_20250305", "name": "web_search"}],
        "mcp_servers": [{"type": "url", "url": "https://m.test", "name": "docs"}]},
        OPENAI, stream=True)
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert "tools" not in chat
    assert ignored == ["web_search", "mcp:docs"]


@pytest.mark.parametrize(("body", "param"), [
    ({"top_k": 3}, "top_k"),
    ({"tools": [{"type": "web_search_20250305", "name": "w"}],
      "tool_choice": {"type": "tool", "name": "w"}}, "tool_choice"),
    ({"tools": [{"type": "web_search_20250305", "name": "w"}],
      "tool_choice": {"type": "any"}}, "tool_choice"),
    ({"messages": [{"role": "user", "content": [{"type": "container_upload",
                                                 "file_id": "f"}]}]}, "messages.0.content.0"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "file", "file_id": "f"}}]}]},
     "messages.0.content.0"),
    ({"messages": [USER, {"role": "assistant", "content": [
        {"type": "tool_use", "id": "tu1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu1", "content": [
            {"type": "container_upload", "file_id": "f"}]}]}]}, "messages.2.content.0.content.0"),
])
def test_what_cannot_be_honoured_is_a_400_naming_it(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        to_chat({"model": "a", "max_tokens": 5, "messages": [USER], **body}, OPENAI,
                stream=False)
    assert info.value.param == param


def _chat_answer(message: dict[str, Any], finish: str, usage: dict[str, Any] | None = None,
                 **choice: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "finish_reason": finish, **choice}],
            "usage": usage or {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}


ANSWERS: list[tuple[str, dict[str, Any], list[str] | None, dict[str, Any]]] = [
    ("text", _chat_answer({"role": "assistant", "content": "Hi"}, "stop"), None,
     {"content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn"}),
    ("max tokens", _chat_answer({"role": "assistant", "content": "Hi"}, "length"), None,
     {"content": [{"type": "text", "text": "Hi"}], "stop_reason": "max_tokens"}),
    ("stop sequence named by the upstream (vLLM)",
     _chat_answer({"role": "assistant", "content": "Hi"}, "stop", stop_reason="END"), ["END"],
     {"content": [{"type": "text", "text": "Hi"}], "stop_reason": "stop_sequence",
      "stop_sequence": "END"}),
    ("tool calls with parsed input, text first",
     _chat_answer({"role": "assistant", "content": "Sure.", "tool_calls": [
         {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
         {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "not json"}}]},
         "tool_calls"), None,
     {"content": [{"type": "text", "text": "Sure."},
                  {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}},
                  {"type": "tool_use", "id": "c2", "name": "g",
                   "input": {"arguments": "not json"}}],
      "stop_reason": "tool_use"}),
    ("content filter", _chat_answer({"role": "assistant", "content": ""}, "content_filter"),
     None, {"content": [], "stop_reason": "refusal"}),
    ("an OpenAI refusal", _chat_answer({"role": "assistant", "content": None,
                                        "refusal": "I can't help with that."}, "stop"), None,
     {"content": [{"type": "text", "text": "I can't help with that."}],
      "stop_reason": "refusal"}),
]


@pytest.mark.parametrize(("name", "obj", "stops", "expected"), ANSWERS,
                         ids=[a[0] for a in ANSWERS])
def test_answer_table(name: str, obj: dict[str, Any], stops: list[str] | None,
                      expected: dict[str, Any]) -> None:
    message = to_message(obj, "alias", stops)
    assert message == {"id": "msg_chatcmpl-1", "type": "message", "role": "assistant",
                       "model": "gpt-4o-mini", "stop_sequence": None,
                       "usage": {"input_tokens": 10, "cache_creation_input_tokens": 0,
                                 "cache_read_input_tokens": 0, "output_tokens": 3},
                       **expected}
    Message.model_validate(message)


def test_cached_prompt_tokens_become_cache_reads() -> None:
    obj = _chat_answer({"role": "assistant", "content": "x"}, "stop", {
        "prompt_tokens": 1000, "completion_tokens": 5, "total_tokens": 1005,
        "prompt_tokens_details": {"cached_tokens": 800}})
    assert to_message(obj, "a", None)["usage"] == {
        "input_tokens": 200, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 800,
        "output_tokens": 5}


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None,
           usage: dict[str, Any] | None = None) -> Chunk:
    obj: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                           "model": "gpt-4o-mini",
                           "choices": [] if delta is None else
                           [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        obj["usage"] = usage
    return Chunk(obj)


def _assemble(data: bytes) -> tuple[list[str], Any]:
    """Events the way the SDK reads them, folded by its own accumulator."""
    names, snapshot, bufs = [], None, {}
    for block in data.decode().split("\n\n"):
        if not block.strip():
            continue
        name_line, data_line = block.split("\n")
        name, obj = name_line[len("event: "):], json.loads(data_line[len("data: "):])
        assert obj["type"] == name
        names.append(name)
        if name not in ("ping", "error"):
            snapshot = accumulate_event(event=obj, current_snapshot=snapshot, json_bufs=bufs)
    return names, snapshot


def test_chat_stream_with_text_and_several_tool_calls() -> None:
    stream = MessagesStream("alias", None)
    usage = {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16}
    batches = [
        [_chunk({"role": "assistant", "content": ""}), _chunk({"content": "Let me "})],
        [_chunk({"content": "check."}),
         _chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                                 "function": {"name": "f", "arguments": ""}}]})],
        [_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
         _chunk({"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}),
         _chunk({"tool_calls": [{"index": 1, "id": "c2", "type": "function",
                                 "function": {"name": "g", "arguments": '{"b": [2]}'}}]})],
        [_chunk({}, "tool_calls"), _chunk(None, usage=usage)],
    ]
    data = b"".join(stream.batch(b, "chat") for b in batches) + stream.done(Trace())
    names, message = _assemble(data)
    assert names == ["message_start", "ping", "content_block_start", "content_block_delta",
                     "content_block_delta", "content_block_stop", "content_block_start",
                     "content_block_delta", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    whole = to_message(_chat_answer({"role": "assistant", "content": "Let me check.",
                                     "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
        {"id": "c2", "type": "function", "function": {"name": "g", "arguments": '{"b": [2]}'}}]},
        "tool_calls", {"prompt_tokens": 7, "completion_tokens": 9}), "alias", None)
    assert message.model_dump(exclude_none=True) == Message.model_validate(
        whole).model_dump(exclude_none=True)


def test_a_streamed_refusal_reads_like_the_whole_one() -> None:
    stream = MessagesStream("alias", None)
    data = stream.batch([_chunk({"role": "assistant", "content": None, "refusal": ""}),
                         _chunk({"refusal": "I can't "}), _chunk({"refusal": "help."}),
                         _chunk({}, "stop")], "chat") + stream.done(Trace())
    _, message = _assemble(data)
    assert message.content[0].text == "I can't help."
    assert message.stop_reason == "refusal"


def test_native_events_relayed_from_their_bytes() -> None:
    stream = MessagesStream("alias", None)
    raw = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}'
    out = stream.batch([Chunk({"type": "message_start", "message": {}}, b"RAW-START"),
                        Chunk(json.loads(raw), raw)], "messages")
    assert out == (b"event: message_start\ndata: RAW-START\n\n"
                   b"event: content_block_delta\ndata: " + raw + b"\n\n")


def test_native_stream_resumed_natively_continues_the_open_text_block() -> None:
    stream = MessagesStream("alias", None)
    first = [{"type": "message_start", "message": {"id": "msg_1", "type": "message",
              "role": "assistant", "model": "m", "content": [], "stop_reason": None,
              "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 1}}},
             {"type": "content_block_start", "index": 0,
              "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
             {"type": "content_block_delta", "index": 0,
              "delta": {"type": "thinking_delta", "thinking": "hm"}},
             {"type": "content_block_stop", "index": 0},
             {"type": "content_block_start", "index": 1,
              "content_block": {"type": "text", "text": ""}},
             {"type": "content_block_delta", "index": 1,
              "delta": {"type": "text_delta", "text": "Hello wor"}}]
    # what the router lets through of the second answer (see proxy.resume.PrefixSkipper)
    resumed = [{"type": "message_start", "message": first[0]["message"]},
               {"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}},
               {"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": "ld"}},
               {"type": "content_block_stop", "index": 0},
               {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                   "stop_sequence": None},
                "usage": {"output_tokens": 4}},
               {"type": "message_stop"}]
    data = stream.batch([Chunk(e) for e in first], "messages")
    data += stream.batch([Chunk(e) for e in resumed], "messages") + stream.done(Trace())
    names, message = _assemble(data)
    assert names.count("message_start") == 1 and names.count("message_stop") == 1
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[1].text == "Hello world"
    assert message.stop_reason == "end_turn"


def test_native_stream_finished_by_a_translated_one() -> None:
    stream = MessagesStream("alias", None)
    data = stream.batch([Chunk(e) for e in [
        {"type": "message_start", "message": {"id": "msg_1", "type": "message",
         "role": "assistant", "model": "m", "content": [], "stop_reason": None,
         "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": "Hello wor"}}]], "messages")
    data += stream.batch([_chunk({"content": "ld"}), _chunk({}, "stop")], "chat")
    data += stream.done(Trace(usage={"prompt_tokens": 3, "completion_tokens": 4}))
    names, message = _assemble(data)
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello world"
    assert names[-2:] == ["message_delta", "message_stop"]
    assert message.usage.output_tokens == 4


@pytest.mark.parametrize(("err", "status", "type_"), [
    (InvalidRequest("x"), 400, "invalid_request_error"),
    (AuthenticationFailed("x"), 401, "authentication_error"),
    (NotFound("x"), 404, "not_found_error"),
    (PayloadTooLarge("x"), 413, "request_too_large"),
    (RateLimited("x"), 429, "rate_limit_error"),
    (ProxyError("x"), 500, "api_error"),
    (StreamBroken("x"), 502, "api_error"),
    (Unavailable("x"), 529, "overloaded_error"),
    (UpstreamTimeout("x"), 504, "api_error"),
    (UpstreamStatusError(400, "prompt bad", type_="invalid_request_error"), 400,
     "invalid_request_error"),
    (UpstreamStatusError(402, "pay", type_="billing_error"), 402, "billing_error"),
])
def test_error_table(err: ProxyError, status: int, type_: str) -> None:
    got_status, body = anthropic_error(err, "req-1")
    assert got_status == status
    assert json.loads(body) == {"type": "error", "error": {"type": type_, "message": "x" if
                                                           err.message == "x" else err.message},
                                "request_id": "req-1"}
    event = error_event(err)
    assert event.startswith(b"event: error\ndata: ")


def test_token_estimate_counts_text_tools_and_media() -> None:
    base = {"messages": [{"role": "user", "content": "Hello world"}]}
    assert estimate_tokens(base) == 2 + 4
    with_image = {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {}}, {"type": "text", "text": "Hello world"}]}]}
    assert estimate_tokens(with_image) == estimate_tokens(base) + 1600
    with_tool = {**base, "tools": [{"name": "f", "input_schema": {"type": "object"}}]}
    assert estimate_tokens(with_tool) > estimate_tokens(base) + 8
