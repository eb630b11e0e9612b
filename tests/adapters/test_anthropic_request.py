from __future__ import annotations

import copy
import json
from typing import Any, ForwardRef
from urllib.parse import urlsplit

import anthropic
import httpx2
import pytest
from anthropic import types as at
from anthropic.types.message_create_params import MessageCreateParamsBase

from supervisors.adapters.anthropic import AnthropicAdapter
from supervisors.errors import InvalidRequest, UnsupportedOperation

from . import load, make_spec, sent

pytestmark = pytest.mark.timeout(5)

CASES = load("anthropic/requests.json")
ADAPTER = AnthropicAdapter()
SPEC = make_spec("anthropic", "https://api.anthropic.com")


def build(
    body: dict[str, Any], *, stream: bool = False, spec: Any = SPEC, key: str | None = "sk-ant-test"
):
    return ADAPTER.build_request("chat", body, stream=stream, spec=spec, key=key)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_request_translation_table(case: dict[str, Any]) -> None:
    body = copy.deepcopy(case["openai"])
    req = build(body, stream=case.get("stream", False))
    assert req.method == "POST"
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert sent(req) == case["anthropic"]
    assert body == case["openai"], "the OpenAI request must not be mutated"


def test_headers_carry_key_version_and_configured_extras() -> None:
    spec = make_spec(
        "anthropic",
        "https://gw.example.com/anthropic/",
        headers={"Anthropic-Beta": "prompt-caching-2024-07-31", "X-Team": "ml"},
    )
    req = build({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, spec=spec)
    assert req.url == "https://gw.example.com/anthropic/v1/messages"
    assert req.headers == {
        "content-type": "application/json",
        "accept": "application/json",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "prompt-caching-2024-07-31",
        "x-team": "ml",
        "x-api-key": "sk-ant-test",
    }
    streamed = build(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]}, stream=True, key=None
    )
    assert streamed.headers["accept"] == "text/event-stream"
    assert "x-api-key" not in streamed.headers


def test_version_and_default_max_tokens_come_from_config_extra() -> None:
    spec = make_spec(
        "anthropic",
        "https://api.anthropic.com",
        anthropic_version="2024-01-01",
        default_max_tokens=1024,
    )
    req = build({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, spec=spec)
    assert req.headers["anthropic-version"] == "2024-01-01"
    assert sent(req)["max_tokens"] == 1024


def test_api_version_without_sampling_parameters_drops_them() -> None:
    spec = make_spec("anthropic", "https://api.anthropic.com", anthropic_version="2026-10-21")
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "top_p": 0.5,
        "top_k": 3,
    }
    out = sent(build(body, spec=spec))
    assert not {"temperature", "top_p", "top_k"} & out.keys()
    assert out["max_tokens"] == 4096


def test_legacy_completions_become_one_user_message() -> None:
    body = {
        "model": "claude-haiku-4-5",
        "prompt": "Say hi",
        "max_tokens": 5,
        "stop": "\n",
        "stream": True,
    }
    req = ADAPTER.build_request("completions", body, stream=True, spec=SPEC, key="k")
    assert sent(req) == {
        "model": "claude-haiku-4-5",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "Say hi"}],
        "stop_sequences": ["\n"],
        "stream": True,
    }


def test_embeddings_are_a_clear_unsupported_operation() -> None:
    with pytest.raises(UnsupportedOperation) as info:
        ADAPTER.build_request(
            "embeddings", {"model": "m", "input": "x"}, stream=False, spec=SPEC, key="k"
        )
    assert info.value.status == 400
    assert "anthropic" in info.value.message and "embeddings" in info.value.message
    assert "embeddings" not in ADAPTER.ops


USER = {"role": "user", "content": "hi"}
INVALID = [
    ("n > 1", {"n": 2}, "n"),
    (
        "tool arguments that are not JSON",
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{city: Paris"},
                        }
                    ],
                },
            ]
        },
        "messages",
    ),
    (
        "tool arguments that are a JSON list",
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "[1]"},
                        }
                    ],
                },
            ]
        },
        "messages",
    ),
    (
        "tool call without id",
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
            ]
        },
        "messages",
    ),
    (
        "tool message without tool_call_id",
        {"messages": [USER, {"role": "tool", "content": "x"}]},
        "messages",
    ),
    ("unknown role", {"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages"),
    (
        "audio content part",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}
                    ],
                }
            ]
        },
        "messages",
    ),
    (
        "ftp image",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}],
                }
            ]
        },
        "messages",
    ),
    (
        "data URL that is not base64",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}
                    ],
                }
            ]
        },
        "messages",
    ),
    ("empty messages", {"messages": []}, "messages"),
    ("max_tokens zero", {"max_tokens": 0}, "max_tokens"),
    ("stop that is a number", {"stop": 3}, "stop"),
    ("non-function tool", {"tools": [{"type": "web_search"}]}, "tools"),
    (
        "named tool_choice without a name",
        {
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": {"type": "function", "function": {}},
        },
        "tool_choice",
    ),
    (
        "json_schema without schema",
        {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
        "response_format",
    ),
    ("temperature that is a string", {"temperature": "hot"}, "temperature"),
    ("missing model", {"model": ""}, "model"),
]


@pytest.mark.parametrize(("change", "param"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_requests_anthropic_cannot_express_are_invalid(change: dict[str, Any], param: str) -> None:
    body = {"model": "claude-sonnet-4-6", "messages": [USER], **change}
    with pytest.raises(InvalidRequest) as info:
        build(body)
    assert type(info.value) is InvalidRequest
    assert info.value.param == param
    assert info.value.status == 400


# -- checked against the official SDK ---------------------------------------------------

#: accepted by API version 2023-06-01, no longer modelled by the SDK (which defaults to a
#: newer version without sampling parameters)
SAMPLING = {"temperature", "top_p", "top_k"}
BLOCKS = {
    "text": at.TextBlockParam,
    "image": at.ImageBlockParam,
    "tool_use": at.ToolUseBlockParam,
    "tool_result": at.ToolResultBlockParam,
}
SOURCES = {"base64": at.Base64ImageSourceParam, "url": at.URLImageSourceParam}
CHOICES = {
    "auto": at.ToolChoiceAutoParam,
    "any": at.ToolChoiceAnyParam,
    "tool": at.ToolChoiceToolParam,
    "none": at.ToolChoiceNoneParam,
}


def _required(td: Any) -> set[str]:
    hints = td.__annotations__.items()
    return {
        k
        for k, v in hints
        if (v.__forward_arg__ if isinstance(v, ForwardRef) else str(v)).startswith("Required[")
    }


def fits(td: Any, value: dict[str, Any], where: str, extra: frozenset[str] = frozenset()) -> None:
    allowed = set(td.__annotations__) | extra
    assert set(value) <= allowed, f"{where}: unknown fields {set(value) - allowed}"
    assert _required(td) <= set(value), f"{where}: missing {_required(td) - set(value)}"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_request_fits_the_sdk_param_types(case: dict[str, Any]) -> None:
    body = sent(build(copy.deepcopy(case["openai"]), stream=case.get("stream", False)))
    fits(MessageCreateParamsBase, body, "request", frozenset(SAMPLING | {"stream"}))
    for i, message in enumerate(body["messages"]):
        roles = {"user": at.UserMessageParam, "assistant": at.AssistantMessageParam}
        fits(roles[message["role"]], message, f"messages[{i}]")
        if isinstance(message["content"], list):
            for j, block in enumerate(message["content"]):
                fits(BLOCKS[block["type"]], block, f"messages[{i}].content[{j}]")
                if block["type"] == "image":
                    fits(SOURCES[block["source"]["type"]], block["source"], "image source")
    for tool in body.get("tools", ()):
        fits(at.ToolParam, tool, "tool")
    if "tool_choice" in body:
        fits(CHOICES[body["tool_choice"]["type"]], body["tool_choice"], "tool_choice")
    if "metadata" in body:
        fits(at.MetadataParam, body["metadata"], "metadata")
    if "output_config" in body:
        fits(at.OutputConfigParam, body["output_config"], "output_config")
        fits(at.JSONOutputFormatParam, body["output_config"]["format"], "output_config.format")


MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_sdk_sends_the_same_body_to_the_same_path(case: dict[str, Any]) -> None:
    req = build(copy.deepcopy(case["openai"]))
    ours = sent(req)
    seen: dict[str, Any] = {}

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen["path"], seen["body"] = request.url.path, json.loads(request.content)
        seen["api_key"] = request.headers.get("x-api-key") or request.headers.get("authorization")
        return httpx2.Response(200, json=MESSAGE)

    params = dict(ours)
    sampling = {k: params.pop(k) for k in SAMPLING & params.keys()}
    with anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url="https://api.anthropic.com",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
    ) as client:
        client.messages.create(**params, extra_body=sampling or None)
    assert seen["path"] == urlsplit(req.url).path == "/v1/messages"
    assert seen["body"] == ours
    assert seen["api_key"]
