"""The edge checks on their own: depth and NUL over the raw body, chat shapes."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from proxy.api.body_tree import MAX_DEPTH, check_tree
from proxy.api.validate import validate_chat, validate_completions, validate_embeddings
from supervisors.errors import InvalidRequest

USER = [{"role": "user", "content": "hi"}]


def _nested(levels: int) -> dict[str, Any]:
    value: Any = 1
    for i in range(levels - 1):
        value = [value] if i % 2 else {"k": value}
    return {"a": value}


@pytest.mark.parametrize("levels", [1, 10, MAX_DEPTH])
def test_depth_up_to_the_limit_passes(levels: int) -> None:
    raw = json.dumps(_nested(levels)).encode()
    check_tree(raw, orjson.loads(raw))


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 600, 1000])
def test_deeper_is_refused(levels: int) -> None:
    raw = b'{"a":' + b"[" * (levels - 1) + b"1" + b"]" * (levels - 1) + b"}"
    with pytest.raises(InvalidRequest, match="nested too deeply"):
        check_tree(raw, orjson.loads(raw))


@pytest.mark.parametrize("body", [{"a": "x\x00y"}, {"a\x00": 1}, {"a": [{"b": ["\x00"]}]}])
def test_nul_anywhere_is_refused(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    with pytest.raises(InvalidRequest, match="NUL"):
        check_tree(raw, orjson.loads(raw))


def test_the_text_of_a_nul_escape_is_fine() -> None:
    body = {"messages": [{"role": "user", "content": "in C, write \\u0000 or \\0"}]}
    raw = json.dumps(body).encode()
    assert b"\\\\u0000" in raw
    check_tree(raw, orjson.loads(raw))


@pytest.mark.parametrize("body", [
    {"model": "m", "messages": USER},
    {"model": "m", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "x"},
                                     {"type": "image_url", "image_url": {"url": "https://x"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "ok"}],
     "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
     "tool_choice": {"type": "function", "function": {"name": "f"}},
     "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}},
     "stop": ["a", "b"], "n": 2, "temperature": 2, "top_p": 0, "logit_bias": {"1": -100},
     "max_tokens": None, "seed": -5, "metadata": {"a": "b"}, "unknown_field": {"x": [1]}},
])
def test_valid_chat_bodies_pass(body: dict[str, Any]) -> None:
    validate_chat(body)


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "m\x01", "messages": USER}, "model"),
    ({"model": "m", "messages": [{"role": ["user"], "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
     "messages[0].content[0].text"),
    ({"model": "m", "messages": [{"role": "assistant", "tool_calls": 5}]},
     "messages[0].tool_calls"),
    ({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}]}]},
     "messages[0].tool_calls[0].function.arguments"),
    ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    ({"model": "m", "messages": USER, "response_format": {"type": "json_schema",
                                                          "json_schema": "x"}},
     "response_format.json_schema"),
    ({"model": "m", "messages": USER, "tools": [{"type": "function", "function": "f"}]},
     "tools[0].function"),
    ({"model": "m", "messages": USER, "tool_choice": "sometimes"}, "tool_choice"),
    ({"model": "m", "messages": USER, "temperature": 1e308}, "temperature"),
    ({"model": "m", "messages": USER, "max_tokens": 2**64}, "max_tokens"),
    ({"model": "m", "messages": USER, "n": True}, "n"),
    ({"model": "m", "messages": USER, "stop": [1]}, "stop"),
])
def test_bad_chat_bodies_name_the_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_chat(body)
    assert info.value.param == param, info.value


@pytest.mark.parametrize("value", [[1, "a"], [[]], [True], [-1], "", []])
def test_bad_embedding_inputs(value: Any) -> None:
    with pytest.raises(InvalidRequest):
        validate_embeddings({"model": "m", "input": value})


def test_completions_prompt_and_ranges() -> None:
    validate_completions({"model": "m", "prompt": ["a", "b"], "best_of": 2})
    for bad in ({"prompt": 5}, {"prompt": "x", "best_of": 0}, {"prompt": "x", "logprobs": 6}):
        with pytest.raises(InvalidRequest):
            validate_completions({"model": "m", **bad})
