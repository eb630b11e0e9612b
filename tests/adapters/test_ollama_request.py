from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import ollama
import pytest

from supervisors.adapters.ollama import OllamaAdapter, tags_request
from supervisors.errors import InvalidRequest

from . import load, make_spec, raw, sent

pytestmark = pytest.mark.timeout(5)

ADAPTER = OllamaAdapter()
SPEC = make_spec("ollama", "http://localhost:11434")
CASES = load("ollama/requests.json")
EMBEDDINGS = load("ollama/embeddings.json")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_chat_request_translation_table(case: dict[str, Any]) -> None:
    body = copy.deepcopy(case["openai"])
    req = ADAPTER.build_request("chat", body, stream=case.get("stream", False), spec=SPEC, key=None)
    assert (req.method, req.url) == ("POST", "http://localhost:11434/api/chat")
    assert sent(req) == case["ollama"]
    assert body == case["openai"], "the OpenAI request must not be mutated"


def test_headers_without_and_with_a_key() -> None:
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
    plain = ADAPTER.build_request("chat", body, stream=False, spec=SPEC, key=None)
    assert plain.headers == {"content-type": "application/json", "accept": "application/json"}
    spec = make_spec("ollama", "https://ollama.internal/", headers={"X-Team": "ml"})
    keyed = ADAPTER.build_request("chat", body, stream=True, spec=spec, key="secret")
    assert keyed.url == "https://ollama.internal/api/chat"
    assert keyed.headers == {
        "content-type": "application/json",
        "accept": "application/x-ndjson",
        "x-team": "ml",
        "authorization": "Bearer secret",
    }


def test_config_extra_supplies_default_options_and_keep_alive() -> None:
    spec = make_spec(
        "ollama",
        "http://localhost:11434",
        options={"num_ctx": 8192, "temperature": 0.8},
        keep_alive="10m",
    )
    body = {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.1,
    }
    out = sent(ADAPTER.build_request("chat", body, stream=False, spec=spec, key=None))
    assert out["options"] == {"num_ctx": 8192, "temperature": 0.1}
    assert out["keep_alive"] == "10m"


def test_legacy_completions_go_through_chat() -> None:
    body = {"model": "llama3.2", "prompt": "Say hi", "max_tokens": 5}
    req = ADAPTER.build_request("completions", body, stream=False, spec=SPEC, key=None)
    assert req.url.endswith("/api/chat")
    assert sent(req) == {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "Say hi"}],
        "stream": False,
        "options": {"num_predict": 5},
    }


@pytest.mark.parametrize("case", EMBEDDINGS, ids=[c["name"] for c in EMBEDDINGS])
def test_embedding_request_translation_table(case: dict[str, Any]) -> None:
    req = ADAPTER.build_request("embeddings", case["openai"], stream=False, spec=SPEC, key=None)
    assert (req.method, req.url) == ("POST", "http://localhost:11434/api/embed")
    assert sent(req) == case["ollama_request"]


def test_tags_request() -> None:
    req = tags_request(make_spec("ollama", "http://localhost:11434/"))
    assert (req.method, req.url, req.body) == ("GET", "http://localhost:11434/api/tags", None)


USER = {"role": "user", "content": "hi"}
INVALID = [
    ("chat", "n > 1", {"n": 3}, "n"),
    (
        "chat",
        "http image URL",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                }
            ]
        },
        "messages",
    ),
    (
        "chat",
        "audio part",
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        "messages",
    ),
    (
        "chat",
        "tool arguments that are not JSON",
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{oops"},
                        }
                    ],
                },
            ]
        },
        "messages",
    ),
    (
        "chat",
        "tool call without a name",
        {"messages": [USER, {"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}]},
        "messages",
    ),
    ("chat", "unknown role", {"messages": [{"role": "critic", "content": "x"}]}, "messages"),
    ("chat", "no messages", {"messages": None}, "messages"),
    ("chat", "negative max_tokens", {"max_tokens": -1}, "max_tokens"),
    (
        "chat",
        "json_schema without schema",
        {"response_format": {"type": "json_schema", "json_schema": {}}},
        "response_format",
    ),
    ("embeddings", "token ids", {"input": [[1, 2, 3]]}, "input"),
    ("embeddings", "empty list", {"input": []}, "input"),
    ("embeddings", "no model", {"model": None, "input": "x"}, "model"),
]


@pytest.mark.parametrize(
    ("op", "change", "param"), [c[:1] + c[2:] for c in INVALID], ids=[c[1] for c in INVALID]
)
def test_requests_ollama_cannot_express_are_invalid(
    op: str, change: dict[str, Any], param: str
) -> None:
    body = {"model": "llama3.2", "messages": [USER], **change}
    with pytest.raises(InvalidRequest) as info:
        ADAPTER.build_request(op, body, stream=False, spec=SPEC, key=None)  # type: ignore[arg-type]
    assert info.value.param == param and info.value.status == 400


# -- checked against the official SDK ---------------------------------------------------


def sdk_sent(ours: dict[str, Any], path: str) -> tuple[str, dict[str, Any]]:
    """The body the ollama SDK sends for the same arguments, and the path it sends it to."""
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["path"], seen["body"] = request.url.path, json.loads(request.content)
        if path == "/api/embed":
            return httpx.Response(200, json={"model": "m", "embeddings": [[0.0]]})
        if ours.get("stream"):
            return httpx.Response(200, content=raw("ollama/stream_text.ndjson"))
        return httpx.Response(
            200,
            json={
                "model": "m",
                "created_at": "2025-01-15T10:20:30Z",
                "message": {"role": "assistant", "content": "ok"},
                "done": True,
            },
        )

    client = ollama.Client(host="http://localhost:11434", transport=httpx.MockTransport(handler))
    args = {k: v for k, v in ours.items() if k != "model"}
    if path == "/api/embed":
        client.embed(ours["model"], **args)
    else:
        answer = client.chat(ours["model"], **args)
        if ours["stream"]:
            assert [part.message.content for part in answer][-1] == ""
    if seen["body"].get("tools") == []:  # the SDK always sends a tools list
        del seen["body"]["tools"]
    return seen["path"], seen["body"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_ollama_sdk_sends_the_same_chat_body(case: dict[str, Any]) -> None:
    req = ADAPTER.build_request(
        "chat", copy.deepcopy(case["openai"]), stream=case.get("stream", False), spec=SPEC, key=None
    )
    ours = sent(req)
    assert sdk_sent(ours, "/api/chat") == ("/api/chat", ours)


@pytest.mark.parametrize("case", EMBEDDINGS, ids=[c["name"] for c in EMBEDDINGS])
def test_ollama_sdk_sends_the_same_embed_body(case: dict[str, Any]) -> None:
    ours = case["ollama_request"]
    assert sdk_sent(ours, "/api/embed") == ("/api/embed", ours)
