"""Native passthrough to ``anthropic`` providers, proven at the fake upstream; fallback
and resume from a native hop to a translated one; Anthropic-shaped errors."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import anthropic
import httpx
import pytest

from tests.fakes import FakeUpstream
from tests.fakes.anthropic_fake import CACHED_TOKENS, SIGNATURE, THINKING
from tests.harness import ProxyProcess

pytestmark = pytest.mark.timeout(30)

BETAS = ("claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-"
         "2025-05-14,context-management-2025-06-27")
BODY: dict[str, Any] = {
    "model": "claude",
    "max_tokens": 2048,
    "system": [{"type": "text", "text": "You are Claude Code.",
                "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "tokens:4", "cache_control": {"type": "ephemeral"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                            "data": "notes"}, "citations": {"enabled": True}},
        ]},
    ],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "context_management": {"edits": [{"type": "clear_thinking_20251015"}]},
    "output_config": {"effort": "high"},
    "metadata": {"user_id": "user_abc_account__session_1"},
}


def _post(gateway: ProxyProcess, key: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/messages?beta=true", json=body, timeout=20, headers={
        "x-api-key": key, "anthropic-version": "2023-06-01", "anthropic-beta": BETAS,
        **headers})


@pytest.mark.parametrize("stream", [False, True])
def test_body_goes_unchanged_but_for_model(m_gateway: ProxyProcess, key: str,
                                           fakes: dict[str, FakeUpstream], stream: bool) -> None:
    body = {**copy.deepcopy(BODY), "stream": stream}
    resp = _post(m_gateway, key, body)
    assert resp.status_code == 200, resp.text
    seen = fakes["anthropic"].requests[-1]
    assert seen.json == {**body, "model": "claude-sonnet-4-5"}
    assert seen.headers["anthropic-beta"] == BETAS
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.key == "sk-ant-msg-test-aaaa1111"  # the provider's key, never the client's
    if not stream:
        message = resp.json()
        assert message["content"][0] == {"type": "thinking", "thinking": THINKING,
                                         "signature": SIGNATURE}
        assert message["content"][1] == {"type": "text", "text": "word0 word1 word2 word3"}
        assert message["usage"]["cache_read_input_tokens"] == CACHED_TOKENS
        assert message["usage"]["service_tier"] == "standard"
        return
    events = _events(resp.text)
    names = [name for name, _ in events]
    assert names[:5] == ["message_start", "content_block_start", "content_block_delta",
                         "content_block_delta", "content_block_stop"]
    assert events[3][1]["delta"] == {"type": "signature_delta", "signature": SIGNATURE}
    assert events[0][1]["message"]["usage"]["cache_read_input_tokens"] == CACHED_TOKENS
    assert names[-2:] == ["message_delta", "message_stop"]


def test_sdk_keeps_thinking_and_cache_usage(client: anthropic.Anthropic,
                                            fakes: dict[str, FakeUpstream]) -> None:
    kw: dict[str, Any] = {k: v for k, v in BODY.items() if k not in ("context_management",)}
    whole = client.messages.create(**kw)
    with client.messages.stream(**kw) as s:
        streamed = s.get_final_message()
    assert streamed.model_dump(exclude={"id"}) == whole.model_dump(exclude={"id"})
    assert whole.content[0].type == "thinking"
    assert whole.content[0].signature == SIGNATURE
    assert whole.usage.cache_read_input_tokens == CACHED_TOKENS


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.split("\n\n"):
        lines = block.strip().split("\n")
        if len(lines) == 2 and lines[0].startswith("event: "):
            out.append((lines[0][7:], json.loads(lines[1][6:])))
    return out


def test_unknown_blocks_and_fields_reach_anthropic(m_gateway: ProxyProcess, key: str,
                                                   fakes: dict[str, FakeUpstream]) -> None:
    body = copy.deepcopy(BODY)
    body["messages"][0]["content"].append({"type": "search_result", "source": "s", "title": "t",
                                           "content": [{"type": "text", "text": "x"}]})
    resp = _post(m_gateway, key, body)
    assert resp.status_code == 200, resp.text
    assert fakes["anthropic"].requests[-1].json["messages"] == body["messages"]


@pytest.mark.parametrize("stream", [False, True])
def test_primary_fails_before_first_byte(client: anthropic.Anthropic,
                                         fakes: dict[str, FakeUpstream], stream: bool) -> None:
    fakes["anthropic"].add_fault(status=529)
    kw: dict[str, Any] = {"model": "chain", "max_tokens": 100,
                          "messages": [{"role": "user", "content": "tokens:5"}]}
    if stream:
        with client.messages.with_streaming_response.create(stream=True, **kw) as raw:
            assert raw.headers["x-proxy-provider"] == "chain-openai"
        fakes["anthropic"].add_fault(status=529)
        with client.messages.stream(**kw) as s:
            message = s.get_final_message()
    else:
        raw_whole = client.messages.with_raw_response.create(**kw)
        assert raw_whole.headers["x-proxy-provider"] == "chain-openai"
        message = raw_whole.parse()
    assert message.content[0].type == "text"
    assert message.content[0].text == "word0 word1 word2 word3 word4"
    assert message.model == "gpt-4o"


def test_stream_cut_after_text_is_resumed_on_openai(client: anthropic.Anthropic,
                                                    fakes: dict[str, FakeUpstream]) -> None:
    fakes["anthropic"].add_fault(cut_after_chunks=3)
    with client.messages.stream(model="chain", max_tokens=100,
                                messages=[{"role": "user", "content": "tokens:8"}]) as s:
        texts = list(s.text_stream)
        message = s.get_final_message()
    assert "".join(texts) == "word0 word1 word2 word3 word4 word5 word6 word7"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "word0 word1 word2 word3 word4 word5 word6 word7"
    assert message.stop_reason == "end_turn"
    assert fakes["openai"].requests, "the openai hop finished the answer"


def test_stream_that_cannot_resume_ends_with_an_error_event(
    m_gateway: ProxyProcess, key: str, fakes: dict[str, FakeUpstream]
) -> None:
    fakes["anthropic"].add_fault(cut_after_chunks=2)
    fakes["openai"].add_fault(status=500, times=-1)
    resp = _post(m_gateway, key, {"model": "chain", "max_tokens": 50, "stream": True,
                                  "messages": [{"role": "user", "content": "tokens:8"}]})
    events = _events(resp.text)
    assert events[-1][0] == "error"
    assert events[-1][1]["type"] == "error"
    assert events[-1][1]["error"]["type"] in ("api_error", "overloaded_error")
    assert "message_stop" not in [name for name, _ in events]


@pytest.mark.parametrize(("body", "status", "type_"), [
    ({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}, 400,
     "invalid_request_error"),  # max_tokens missing
    ({"model": "claude", "max_tokens": 5, "messages": []}, 400, "invalid_request_error"),
    ({"model": "claude", "max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]},
     400, "invalid_request_error"),
    ({"model": "no-such-model", "max_tokens": 5,
      "messages": [{"role": "user", "content": "x"}]}, 404, "not_found_error"),
    ({"model": "gpt", "max_tokens": 5, "top_k": 3,
      "messages": [{"role": "user", "content": "x"}]}, 400, "invalid_request_error"),
    ({"model": "gpt", "max_tokens": 5, "tools": [{"type": "web_search_20250305",
                                                  "name": "web_search"}],
      "tool_choice": {"type": "tool", "name": "web_search"},
      "messages": [{"role": "user", "content": "x"}]}, 400, "invalid_request_error"),
])
def test_bad_requests_get_anthropic_errors(m_gateway: ProxyProcess, key: str,
                                           body: dict[str, Any], status: int,
                                           type_: str) -> None:
    resp = _post(m_gateway, key, body)
    assert resp.status_code == status, resp.text
    error = resp.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == type_
    assert error["error"]["message"]


def test_bad_key_bad_json_and_sdk_error_classes(m_gateway: ProxyProcess,
                                                client: anthropic.Anthropic) -> None:
    resp = httpx.post(m_gateway.url + "/v1/messages", content=b"{not json", timeout=10,
                      headers={"x-api-key": "wrong"})
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "authentication_error"
    resp = httpx.post(m_gateway.url + "/v1/messages", content=b"{not json", timeout=10,
                      headers={"Authorization": f"Bearer {client.api_key}"})
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"
    with anthropic.Anthropic(base_url=m_gateway.url, api_key="nope", max_retries=0) as bad:
        with pytest.raises(anthropic.AuthenticationError):
            bad.messages.create(model="claude", max_tokens=5,
                                messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="missing", max_tokens=5,
                               messages=[{"role": "user", "content": "x"}])


def test_overloaded_is_529(client: anthropic.Anthropic, fakes: dict[str, FakeUpstream]) -> None:
    fakes["anthropic"].add_fault(status=529, times=-1)
    with pytest.raises(anthropic.InternalServerError) as info:
        client.messages.create(model="claude", max_tokens=5,
                               messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code in (502, 529)
    assert info.value.body["error"]["type"] in ("api_error", "overloaded_error")  # type: ignore[index]


def test_models_in_anthropic_shape(client: anthropic.Anthropic) -> None:
    page = client.models.list()
    ids = [m.id for m in page.data]
    assert {"claude", "gpt", "llama", "mock", "chain"} <= set(ids)
    assert all(m.type == "model" and m.display_name for m in page.data)
    one = client.models.retrieve("gpt")
    assert (one.id, one.type) == ("gpt", "model")
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("missing-model")


@pytest.mark.timeout(40)
def test_a_quiet_upstream_gets_pings(m_gateway: ProxyProcess, key: str,
                                     fakes: dict[str, FakeUpstream]) -> None:
    fakes["openai"].add_fault(chunk_delay_ms=4500)
    resp = _post(m_gateway, key, {"model": "gpt", "max_tokens": 20, "stream": True,
                                  "messages": [{"role": "user", "content": "tokens:2"}]})
    names = [name for name, _ in _events(resp.text)]
    first, second = [i for i, n in enumerate(names) if n == "content_block_delta"]
    assert "ping" in names[first:second], names
    assert names[-1] == "message_stop"


def test_tokens_per_minute_count_messages_usage(m_gateway: ProxyProcess,
                                                fakes: dict[str, FakeUpstream]) -> None:
    limited = m_gateway.admin.client_key("tpm", tpm_limit=30)
    body = {"model": "claude", "max_tokens": 50,
            "messages": [{"role": "user", "content": "tokens:40"}]}
    first = _post(m_gateway, limited, body)
    assert first.status_code == 200, first.text
    deadline = time.monotonic() + 5
    while True:  # tokens are charged just after the answer
        second = _post(m_gateway, limited, body)
        if second.status_code == 429 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert second.status_code == 429, second.text
    assert second.json()["error"]["type"] == "rate_limit_error"
    assert "retry-after" in second.headers
    metrics = httpx.get(m_gateway.url + "/metrics", timeout=10).text
    assert 'endpoint="/v1/messages"' in metrics


@pytest.mark.parametrize("alias", ["claude", "gpt"])
@pytest.mark.parametrize("stream", [False, True])
def test_cached_answers_replay_as_messages(m_gateway: ProxyProcess, key: str,
                                           fakes: dict[str, FakeUpstream], alias: str,
                                           stream: bool) -> None:
    body = {"model": alias, "max_tokens": 50, "stream": stream,
            "messages": [{"role": "user", "content": f"tokens:3 cache {alias} {stream}"}]}
    first = _post(m_gateway, key, body, **{"x-proxy-cache-ttl": "60"})
    second = _post(m_gateway, key, body, **{"x-proxy-cache-ttl": "60"})
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert second.headers.get("x-proxy-cache") == "hit"
    if stream:
        assert [n for n, _ in _events(second.text)][-1] == "message_stop"
        texts = ["".join(e["delta"].get("text", "") for n, e in _events(r.text)
                         if n == "content_block_delta") for r in (first, second)]
        assert texts[0] == texts[1]
    else:
        assert second.json()["content"] == first.json()["content"]


@pytest.mark.parametrize("alias", ["claude", "gpt"])
@pytest.mark.parametrize("first_stream", [False, True])
def test_a_cached_answer_serves_the_other_mode_or_misses(
    m_gateway: ProxyProcess, key: str, fakes: dict[str, FakeUpstream], alias: str,
    first_stream: bool,
) -> None:
    body = {"model": alias, "max_tokens": 50, "system": f"mode {alias} {first_stream}",
            "messages": [{"role": "user", "content": "tokens:4"}]}
    first = _post(m_gateway, key, {**body, "stream": first_stream},
                  **{"x-proxy-cache-ttl": "60"})
    second = _post(m_gateway, key, {**body, "stream": not first_stream},
                   **{"x-proxy-cache-ttl": "60"})
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    if first_stream:  # asked whole
        assert second.json()["content"][-1]["text"] == "word0 word1 word2 word3"
    else:
        names = [n for n, _ in _events(second.text)]
        assert names[0] == "message_start" and names[-1] == "message_stop", second.text


@pytest.mark.parametrize(("alias", "cut"), [("chain-native", "anthropic"),
                                            ("chain-reverse", "openai")])
def test_stream_resumed_across_native_and_translated_hops(
    client: anthropic.Anthropic, fakes: dict[str, FakeUpstream], alias: str, cut: str
) -> None:
    fakes[cut].add_fault(cut_after_chunks=3)
    kw: dict[str, Any] = {"model": alias, "max_tokens": 2000,
                          "messages": [{"role": "user", "content": "tokens:8"}]}
    if alias == "chain-native":
        kw["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    with client.messages.stream(**kw) as s:
        texts = list(s.text_stream)
        message = s.get_final_message()
    expected = "word0 word1 word2 word3 word4 word5 word6 word7"
    assert "".join(texts) == expected
    kinds = [b.type for b in message.content]
    assert kinds == (["thinking", "text"] if alias == "chain-native" else ["text"])
    assert message.content[-1].text == expected  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
