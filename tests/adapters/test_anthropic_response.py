from __future__ import annotations

import anthropic
import orjson
import pytest
from openai.types import Completion
from openai.types.chat import ChatCompletion

from supervisors.adapters.anthropic import AnthropicAdapter
from supervisors.errors import ContextLengthExceeded, UpstreamError, UpstreamStatusError

from . import load

pytestmark = pytest.mark.timeout(5)

ADAPTER = AnthropicAdapter()
RESPONSES = load("anthropic/responses.json")
ERRORS = load("anthropic/errors.json")
ERROR_CLASSES = {
    "UpstreamStatusError": UpstreamStatusError,
    "ContextLengthExceeded": ContextLengthExceeded,
}


@pytest.mark.parametrize("case", RESPONSES, ids=[c["name"] for c in RESPONSES])
def test_response_translation_table(case: dict) -> None:
    anthropic.types.Message.model_validate(case["anthropic"])  # the fixture is a real Message
    result = ADAPTER.parse_response("chat", orjson.dumps(case["anthropic"]), case["request"])
    assert result.obj == case["openai"]
    assert result.raw is None
    ChatCompletion.model_validate(result.obj)  # and the answer is a real chat.completion


def test_legacy_completion_answer_is_a_text_completion() -> None:
    case = RESPONSES[0]
    request = {"model": "claude-sonnet-4-6", "prompt": "Say hello"}
    result = ADAPTER.parse_response("completions", orjson.dumps(case["anthropic"]), request)
    assert result.obj == {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "object": "text_completion",
        "created": 0,
        "model": "claude-sonnet-4-6",
        "choices": [
            {
                "text": "Héllo 👋 wörld — 日本語",
                "index": 0,
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40},
    }
    Completion.model_validate(result.obj)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"type": "error", "error": {"type": "api_error", "message": "boom"}}',
    ],
    ids=["not JSON", "not an object", "error object with 200"],
)
def test_unusable_success_bodies_are_upstream_errors(body: bytes) -> None:
    with pytest.raises(UpstreamError) as info:
        ADAPTER.parse_response("chat", body, {"model": "m", "messages": []})
    assert info.value.status == 502


@pytest.mark.parametrize("case", ERRORS, ids=[c["name"] for c in ERRORS])
def test_error_translation_table(case: dict) -> None:
    body = case["body"] if isinstance(case["body"], str) else orjson.dumps(case["body"]).decode()
    err = ADAPTER.parse_error(case["status"], body.encode(), case["headers"], "claude-main")
    expect = case["expect"]
    assert type(err) is ERROR_CLASSES[expect["class"]]
    assert err.status == expect["status"]
    assert err.retryable is expect["retryable"]
    assert err.retry_after == expect["retry_after"]
    assert err.message == expect["message"]
    assert err.type == expect["type"]
    assert err.provider == "claude-main"
    if "code" in expect:
        assert err.code == expect["code"]
    if isinstance(err, UpstreamStatusError):
        assert err.upstream_status == case["status"]
    # context length moves on to the next chain entry; retryable errors fail over too
    assert err.failover is (expect["class"] == "ContextLengthExceeded" or expect["retryable"])
