from __future__ import annotations

import base64
import struct
from typing import Any

import ollama
import orjson
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from supervisors.adapters.ollama import OllamaAdapter, parse_tags
from supervisors.errors import ContextLengthExceeded, UpstreamError, UpstreamStatusError

from . import load, raw

pytestmark = pytest.mark.timeout(5)

ADAPTER = OllamaAdapter()
RESPONSES = load("ollama/responses.json")
EMBEDDINGS = load("ollama/embeddings.json")
ERRORS = load("ollama/errors.json")
ERROR_CLASSES = {
    "UpstreamStatusError": UpstreamStatusError,
    "ContextLengthExceeded": ContextLengthExceeded,
}


@pytest.mark.parametrize("case", RESPONSES, ids=[c["name"] for c in RESPONSES])
def test_chat_response_translation_table(case: dict[str, Any]) -> None:
    ollama.ChatResponse.model_validate(case["ollama"])  # the fixture is a real answer
    result = ADAPTER.parse_response("chat", orjson.dumps(case["ollama"]), case["request"])
    assert result.obj == case["openai"]
    ChatCompletion.model_validate(result.obj)


def test_the_completion_id_is_stable_and_depends_on_the_answer() -> None:
    body = RESPONSES[0]["ollama"]
    first = ADAPTER.parse_response("chat", orjson.dumps(body), {}).obj["id"]
    again = ADAPTER.parse_response("chat", orjson.dumps(body), {}).obj["id"]
    later = ADAPTER.parse_response(
        "chat", orjson.dumps({**body, "created_at": "2025-01-15T10:20:31Z"}), {}
    ).obj["id"]
    assert first == again != later
    assert first.startswith("chatcmpl-") and len(first) == len("chatcmpl-") + 24


def test_legacy_completion_answer() -> None:
    case = RESPONSES[0]
    result = ADAPTER.parse_response(
        "completions", orjson.dumps(case["ollama"]), {"model": "llama3.2", "prompt": "x"}
    )
    assert result.obj["object"] == "text_completion"
    assert result.obj["choices"] == [
        {"text": "Héllo 👋 wörld — 日本語", "index": 0, "logprobs": None, "finish_reason": "stop"}
    ]
    assert result.obj["usage"] == case["openai"]["usage"]


@pytest.mark.parametrize("case", EMBEDDINGS, ids=[c["name"] for c in EMBEDDINGS])
def test_embedding_response_translation_table(case: dict[str, Any]) -> None:
    ollama.EmbedResponse.model_validate(case["ollama"])
    result = ADAPTER.parse_response("embeddings", orjson.dumps(case["ollama"]), case["openai"])
    assert result.obj == case["openai_response"]
    if case["openai"].get("encoding_format") != "base64":  # the SDK decodes base64 itself first
        CreateEmbeddingResponse.model_validate(result.obj)


def test_base64_embeddings_are_little_endian_float32_as_openai_sends_them() -> None:
    case = EMBEDDINGS[1]
    result = ADAPTER.parse_response("embeddings", orjson.dumps(case["ollama"]), case["openai"])
    decoded = []
    for item in result.obj["data"]:
        data = base64.b64decode(item["embedding"])
        decoded.append(list(struct.unpack(f"<{len(data) // 4}f", data)))
    assert decoded == case["ollama"]["embeddings"]


@pytest.mark.parametrize(
    ("op", "body"),
    [
        ("chat", b"<html>"),
        ("chat", b'{"error": "model is loading"}'),
        ("embeddings", b'{"model": "m"}'),
        ("embeddings", b'{"embeddings": [1, 2]}'),
    ],
    ids=["not JSON", "error with 200", "no embeddings", "embeddings not a list of vectors"],
)
def test_unusable_success_bodies_are_upstream_errors(op: str, body: bytes) -> None:
    with pytest.raises(UpstreamError):
        ADAPTER.parse_response(op, body, {"model": "m"})  # type: ignore[arg-type]


def test_parse_tags_lists_model_names() -> None:
    ollama.ListResponse.model_validate(load("ollama/tags.json"))
    assert parse_tags(raw("ollama/tags.json")) == [
        "llama3.2:latest",
        "nomic-embed-text:latest",
        "qwen3:8b",
    ]
    assert parse_tags(b'{"models": []}') == []


@pytest.mark.parametrize(
    "body", [b"nope", b"[]", b'{"models": null}'], ids=["not JSON", "a list", "no models"]
)
def test_parse_tags_rejects_other_bodies(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_tags(body)


@pytest.mark.parametrize("case", ERRORS, ids=[c["name"] for c in ERRORS])
def test_error_translation_table(case: dict[str, Any]) -> None:
    body = case["body"] if isinstance(case["body"], str) else orjson.dumps(case["body"]).decode()
    err = ADAPTER.parse_error(case["status"], body.encode(), case["headers"], "local-ollama")
    expect = case["expect"]
    assert type(err) is ERROR_CLASSES[expect["class"]]
    assert (err.status, err.retryable, err.retry_after) == (
        expect["status"],
        expect["retryable"],
        expect["retry_after"],
    )
    assert err.message == expect["message"]
    assert err.code == expect["code"]
    assert err.provider == "local-ollama"
    assert err.failover is (expect["class"] == "ContextLengthExceeded" or expect["retryable"])
