"""The Responses ⇄ chat translation, table-driven: requests, items, answers, stream events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response
from openai.types.responses.response_stream_event import ResponseStreamEvent
from pydantic import TypeAdapter

from proxy.responses.events import ResponseEvents
from proxy.responses.items import normalise_input, to_messages
from proxy.responses.output import ResponseShell
from proxy.responses.request import parse_request
from supervisors.errors import InvalidRequest, UpstreamError
from supervisors.messages import Chunk

FN_TOOL = {"type": "function", "name": "get_weather", "description": "weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
CHAT_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def _req(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "input": "hi", **fields}


REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("plain", _req(), {}),
    ("sampling", _req(temperature=0.2, top_p=0.5, max_output_tokens=33, user="u"),
     {"temperature": 0.2, "top_p": 0.5, "max_completion_tokens": 33, "user": "u"}),
    ("function tool", _req(tools=[FN_TOOL], tool_choice="required", parallel_tool_calls=False),
     {"tools": [CHAT_TOOL], "tool_choice": "required", "parallel_tool_calls": False}),
    ("forced function", _req(tools=[FN_TOOL],
                             tool_choice={"type": "function", "name": "get_weather"}),
     {"tools": [CHAT_TOOL], "tool_choice": {"type": "function",
                                             "function": {"name": "get_weather"}}}),
    ("tool_choice none drops tools", _req(tools=[FN_TOOL], tool_choice="none"), {}),
    ("built-in tools left out", _req(tools=[{"type": "web_search"}, FN_TOOL,
                                            {"type": "file_search", "vector_store_ids": []}]),
     {"tools": [CHAT_TOOL]}),
    ("json_object", _req(text={"format": {"type": "json_object"}}),
     {"response_format": {"type": "json_object"}}),
    ("json_schema", _req(text={"format": {"type": "json_schema", "name": "x", "strict": True,
                                          "schema": {"type": "object"}}}),
     {"response_format": {"type": "json_schema", "json_schema": {
         "name": "x", "schema": {"type": "object"}, "strict": True}}}),
    ("openai-only tuning ignored", _req(reasoning={"effort": "high", "summary": "auto"},
                                        include=["reasoning.encrypted_content"],
                                        prompt_cache_key="k", truncation="auto",
                                        service_tier="auto", store=False,
                                        client_metadata={"a": "b"}), {}),
]


@pytest.mark.parametrize(("name", "body", "chat"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_request_becomes_the_chat_fields(name: str, body: dict[str, Any],
                                         chat: dict[str, Any]) -> None:
    assert parse_request(body).chat == chat


def test_ignored_tools_are_named_and_echo_keeps_settings() -> None:
    req = parse_request(_req(tools=[{"type": "web_search"}, {"type": "custom", "name": "x"},
                                    FN_TOOL], store=False, metadata={"k": "v"}))
    assert req.ignored_tools == ["web_search", "custom"]
    assert req.store is False
    assert req.echo["metadata"] == {"k": "v"}
    assert req.echo["tools"][0]["name"] == "get_weather"


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("no model", {"input": "x"}, "model"),
    ("no input", {"model": "m"}, "input"),
    ("input number", _req(input=3), "input"),
    ("unknown item", _req(input=[{"type": "computer_call_output"}]), "input[0].type"),
    ("bad role", _req(input=[{"role": "robot", "content": "x"}]), "input[0].role"),
    ("bad part", _req(input=[{"role": "user", "content": [{"type": "input_audio"}]}]),
     "input[0].content[0].type"),
    ("call without call_id", _req(input=[{"type": "function_call", "name": "f",
                                          "arguments": "{}"}]), "input[0].call_id"),
    ("forced built-in", _req(tools=[{"type": "web_search"}],
                             tool_choice={"type": "web_search"}), "tool_choice"),
    ("forced missing function", _req(tool_choice={"type": "function", "name": "nope"}),
     "tool_choice"),
    ("temperature type", _req(temperature="hot"), "temperature"),
    ("temperature range", _req(temperature=5), "temperature"),
    ("store type", _req(store="yes"), "store"),
    ("max_output_tokens", _req(max_output_tokens=0), "max_output_tokens"),
    ("background", _req(background=True), "background"),
    ("conversation", _req(conversation="conv_1"), "conversation"),
    ("text format", _req(text={"format": {"type": "xml"}}), "text.format.type"),
    ("schema missing", _req(text={"format": {"type": "json_schema", "name": "x"}}),
     "text.format.schema"),
    ("tools not a list", _req(tools={"type": "function"}), "tools"),
    ("metadata values", _req(metadata={"a": 1}), "metadata"),
    ("tool type with a control character", _req(tools=[{"type": "web\u0000search"}]),
     "tools[0].type"),
    ("tool type empty", _req(tools=[{"type": ""}]), "tools[0].type"),
    ("function name with a newline", _req(tools=[{**FN_TOOL, "name": "a\nb"}]),
     "tools[0].name"),
    ("image without url", _req(input=[{"role": "user", "content": [
        {"type": "input_image"}]}]), "input[0].content[0].image_url"),
]


@pytest.mark.parametrize(("name", "body", "param"), BAD, ids=[b[0] for b in BAD])
def test_bad_requests_are_400_naming_the_field(name: str, body: dict[str, Any],
                                               param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_request(body)
    assert caught.value.status == 400
    assert caught.value.param == param


MESSAGES: list[tuple[str, Any, str | None, list[dict[str, Any]]]] = [
    ("string", "hello", "be brief",
     [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]),
    ("roles", [{"role": "developer", "content": "dev"}, {"role": "system", "content": "sys"},
               {"role": "user", "content": [{"type": "input_text", "text": "a"},
                                            {"type": "input_text", "text": "b"}]},
               {"role": "assistant", "content": [{"type": "output_text", "text": "c"}]}], None,
     [{"role": "system", "content": "dev"}, {"role": "system", "content": "sys"},
      {"role": "user", "content": "ab"}, {"role": "assistant", "content": "c"}]),
    ("image", [{"role": "user", "content": [
        {"type": "input_text", "text": "what"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"}]}],
     None,
     [{"role": "user", "content": [
         {"type": "text", "text": "what"},
         {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA",
                                             "detail": "low"}}]}]),
    ("tool round trip", [
        {"role": "user", "content": "call tool"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}", "id": "fc_1"},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{\"a\":1}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "c2",
         "output": [{"type": "input_text", "text": "ok"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "zzz"},
    ], None,
     [{"role": "user", "content": "call tool"},
      {"role": "assistant", "content": None, "tool_calls": [
          {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
          {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{\"a\":1}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
      {"role": "tool", "tool_call_id": "c2", "content": "ok"}]),
    ("text then call joins one assistant message", [
        {"role": "user", "content": "x"},
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "let me check", "annotations": []}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    ], None,
     [{"role": "user", "content": "x"},
      {"role": "assistant", "content": "let me check", "tool_calls": [
          {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]),
]


@pytest.mark.parametrize(("name", "given", "instructions", "expected"), MESSAGES,
                         ids=[m[0] for m in MESSAGES])
def test_items_become_chat_messages(name: str, given: Any, instructions: str | None,
                                    expected: list[dict[str, Any]]) -> None:
    assert to_messages(normalise_input(given), instructions) == expected


def test_every_normalised_item_has_an_id_and_client_ids_are_kept() -> None:
    items = normalise_input([{"role": "user", "content": "a", "id": "msg_mine"},
                             {"type": "function_call_output", "call_id": "c", "output": "o"}])
    assert items[0]["id"] == "msg_mine"
    assert items[1]["id"].startswith("fco_")


SHELL_ECHO = parse_request(_req()).echo


def _chat(message: dict[str, Any], finish: str, usage: dict[str, Any] | None = None
          ) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage or {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8,
                               "prompt_tokens_details": {"cached_tokens": 2}}}


WHOLE: list[tuple[str, dict[str, Any], str, list[str]]] = [
    ("text", _chat({"role": "assistant", "content": "hello"}, "stop"), "completed",
     ["message"]),
    ("cut short", _chat({"role": "assistant", "content": "hel"}, "length"), "incomplete",
     ["message"]),
    ("tool calls", _chat({"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
        "tool_calls"), "completed", ["function_call", "function_call"]),
    ("text and call", _chat({"role": "assistant", "content": "checking", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        "tool_calls"), "completed", ["message", "function_call"]),
]


@pytest.mark.parametrize(("name", "chat", "status", "types"), WHOLE, ids=[w[0] for w in WHOLE])
def test_whole_answers_become_valid_response_objects(name: str, chat: dict[str, Any],
                                                     status: str, types: list[str]) -> None:
    obj = ResponseShell(SHELL_ECHO).whole(chat)
    parsed = Response.model_validate(obj)
    assert parsed.status == status
    assert [item.type for item in parsed.output] == types
    assert parsed.usage is not None
    assert (parsed.usage.input_tokens, parsed.usage.output_tokens) == (5, 3)
    assert parsed.usage.input_tokens_details.cached_tokens == 2
    if status == "incomplete":
        assert parsed.incomplete_details is not None
        assert parsed.incomplete_details.reason == "max_output_tokens"


def _chunk(delta: dict[str, Any], finish: str | None = None) -> Chunk:
    return Chunk({"id": "c", "object": "chat.completion.chunk", "model": "m",
                  "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def _tool_delta(index: int, call_id: str | None, name: str | None, args: str) -> dict[str, Any]:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if call_id:
        fragment["id"] = call_id
        fragment["type"] = "function"
        fragment["function"]["name"] = name
    return {"tool_calls": [fragment]}


STREAMS: list[tuple[str, list[list[Chunk]], str]] = [
    ("text", [[_chunk({"role": "assistant", "content": ""})], [_chunk({"content": "hel"}),
              _chunk({"content": "lo"})], [_chunk({}, "stop")]], "completed"),
    ("length", [[_chunk({"content": "hel"})], [_chunk({}, "length")]], "incomplete"),
    ("two calls", [[_chunk(_tool_delta(0, "call_1", "f", ""))],
                   [_chunk(_tool_delta(0, None, None, "{\"a\""))],
                   [_chunk(_tool_delta(0, None, None, ":1}"))],
                   [_chunk(_tool_delta(1, "call_2", "g", "{}"))], [_chunk({}, "tool_calls")]],
     "completed"),
    ("text then call", [[_chunk({"content": "checking"})],
                        [_chunk(_tool_delta(0, "call_1", "f", "{}"))],
                        [_chunk({}, "tool_calls")]], "completed"),
    ("empty", [[_chunk({}, "stop")]], "completed"),
]

_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def _plain(value: Any) -> Any:
    """A parsed SDK object without the ``parsed`` fields the accumulator adds."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in ("parsed", "parsed_arguments")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _events(data: bytes) -> list[dict[str, Any]]:
    events = []
    for block in data.split(b"\n\n"):
        if not block:
            continue
        head, body = block.split(b"\n", 1)
        assert head.startswith(b"event: ") and body.startswith(b"data: ")
        event = orjson.loads(body[len(b"data: "):])
        assert head[len(b"event: "):].decode() == event["type"]
        events.append(event)
    return events


@pytest.mark.parametrize(("name", "batches", "status"), STREAMS, ids=[s[0] for s in STREAMS])
def test_streams_assemble_into_the_final_response(name: str, batches: list[list[Chunk]],
                                                  status: str) -> None:
    encoder = ResponseEvents(ResponseShell(SHELL_ECHO))
    data = encoder.head() + b"".join(encoder.batch(b) for b in batches)
    data += encoder.done({"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6})
    events = _events(data)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == f"response.{status}"
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=[], text_format=omit)
    for event in events:
        state.handle_event(_EVENT.validate_python(event))
    final = state._completed_response if status == "completed" else None
    response = encoder.response
    assert response is not None
    if final is not None:
        assert final.model_dump(exclude={"output"}) == Response.model_validate(
            response).model_dump(exclude={"output"})
        assert [_plain(o.model_dump()) for o in final.output] == [
            o.model_dump() for o in Response.model_validate(response).output]
    # the streamed object has the same items as the whole answer of the same content
    assert response["status"] == status
    assert response["output"]


def test_a_broken_stream_ends_with_response_failed_keeping_what_was_sent() -> None:
    encoder = ResponseEvents(ResponseShell(SHELL_ECHO))
    data = encoder.head() + encoder.batch([_chunk({"content": "part"})])
    data += encoder.error(UpstreamError("upstream went away"))
    events = _events(data)
    assert events[-1]["type"] == "response.failed"
    failed = Response.model_validate(events[-1]["response"])
    assert failed.status == "failed"
    assert failed.error is not None and "went away" in failed.error.message
    assert failed.output[0].type == "message"
