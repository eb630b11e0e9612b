"""The fake upstreams speak the real wire formats: proven with the official SDKs.

Each fake runs in its own thread; the sync SDK clients call it directly and the
async tests call it from the test's event loop.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import anthropic
import httpx
import ollama
import openai
import pytest

from tests.fakes import TOOL_ARGUMENTS, FakeUpstream

pytestmark = pytest.mark.timeout(10)

OKEY, AKEY = "sk-test-openai-1", "sk-ant-test-1"
WORDS12 = " ".join(f"word{i}" for i in range(12))
WEATHER_TOOL: dict[str, Any] = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string"}}}}}
ANTHROPIC_TOOL = {"name": "get_weather", "description": "Weather in a city",
                  "input_schema": WEATHER_TOOL["function"]["parameters"]}


@pytest.fixture(scope="module")
def oa_fake() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys={OKEY, "sk-other"}) as fake:
        yield fake


@pytest.fixture(scope="module")
def an_fake() -> Iterator[FakeUpstream]:
    with FakeUpstream("anthropic", keys={AKEY}) as fake:
        yield fake


@pytest.fixture(scope="module")
def ol_fake() -> Iterator[FakeUpstream]:
    with FakeUpstream("ollama", models={"llama3.2:latest", "nomic-embed-text"}) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> None:
    for name in ("oa_fake", "an_fake", "ol_fake"):
        if name in request.fixturenames:
            fake = request.getfixturevalue(name)
            fake.clear_faults()
            fake.reset_stats()


@pytest.fixture
def oa(oa_fake: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=oa_fake.base_url, api_key=OKEY, max_retries=0, timeout=5)


@pytest.fixture
def an(an_fake: FakeUpstream) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=an_fake.base_url, api_key=AKEY, max_retries=0, timeout=5)


def user(text: str) -> Any:  # SDK message TypedDicts, kept loose for brevity
    return [{"role": "user", "content": text}]


def wait_for(predicate: Callable[[], object], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


# -- OpenAI --------------------------------------------------------------------------------
def test_openai_chat_answer_is_deterministic_with_usage(oa: Any) -> None:
    r = oa.chat.completions.create(model="gpt-4o-mini", messages=user("hello there friend"))
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    assert r.choices[0].message.content == WORDS12 and r.choices[0].finish_reason == "stop"
    assert r.system_fingerprint and r.created > 0 and r.model == "gpt-4o-mini"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (3, 12)
    r = oa.chat.completions.create(model="x", messages=user("tokens:30"), max_tokens=5, n=2)
    assert [c.index for c in r.choices] == [0, 1]
    assert r.choices[1].message.content == "word0 word1 word2 word3 word4 "
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 10
    r = oa.chat.completions.create(model="x", messages=user("tokens:5"), stop=["word3"])
    assert r.choices[0].message.content == "word0 word1 word2 " and r.choices[0].finish_reason == "stop"


def test_openai_stream_with_include_usage_ends_with_usage_chunk(oa: Any) -> None:
    chunks = list(oa.chat.completions.create(model="m", messages=user("tokens:4"), stream=True,
                                             stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "word0 word1 word2 word3"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)


def test_openai_stream_wire_has_sse_headers_and_done(oa_fake: FakeUpstream) -> None:
    body = {"model": "m", "messages": user("tokens:2"), "stream": True}
    r = httpx.post(oa_fake.url + "/v1/chat/completions", json=body,
                   headers={"Authorization": f"Bearer {OKEY}"})
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-request-id"].startswith("req_")
    events = [e for e in r.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]" and all(e.startswith("data: ") for e in events)
    assert "usage" not in json.loads(events[0][6:])


def test_openai_tool_call_streams_in_fragments_and_reassembles(oa: Any) -> None:
    stream = oa.chat.completions.create(model="m", messages=user("please call tool now"),
                                        tools=[WEATHER_TOOL], stream=True)
    frags, name, finish = [], None, None
    for chunk in stream:
        choice = chunk.choices[0]
        for call in choice.delta.tool_calls or []:
            name = call.function.name or name
            if call.function.arguments:
                frags.append(call.function.arguments)
        finish = choice.finish_reason or finish
    assert name == "get_weather" and finish == "tool_calls" and len(frags) >= 3
    assert json.loads("".join(frags)) == TOOL_ARGUMENTS
    msgs = [*user("please call tool now"),
            {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    r = oa.chat.completions.create(model="m", messages=msgs, tools=[WEATHER_TOOL])
    assert r.choices[0].message.content == WORDS12 and r.choices[0].finish_reason == "stop"


def test_openai_prefill_continues_the_trailing_assistant_message(oa: Any) -> None:
    msgs = [*user("tokens:6"), {"role": "assistant", "content": "word0 word1 wo"}]
    r = oa.chat.completions.create(model="m", messages=msgs)
    assert r.choices[0].message.content == "rd2 word3 word4 word5"


def test_openai_legacy_completions_plain_and_streamed(oa: Any) -> None:
    r = oa.completions.create(model="gpt-3.5-turbo-instruct", prompt="tokens:3")
    assert r.object == "text_completion" and r.choices[0].text == "word0 word1 word2"
    parts = list(oa.completions.create(model="i", prompt="echo: a b", stream=True,
                                       stream_options={"include_usage": True}))
    assert "".join(p.choices[0].text for p in parts if p.choices) == " a b"
    assert parts[-1].usage.completion_tokens == 3


def test_openai_embeddings_float_and_base64(oa: Any) -> None:
    floats = oa.embeddings.create(model="e", input=["a", "b"], encoding_format="float")
    assert len(floats.data) == 2 and len(floats.data[0].embedding) == 8
    assert abs(sum(v * v for v in floats.data[0].embedding) - 1.0) < 1e-6
    raw = oa.embeddings.create(model="e", input="a", encoding_format="base64", dimensions=4)
    decoded = struct.unpack("<4f", base64.b64decode(raw.data[0].embedding))
    assert len(decoded) == 4
    default = oa.embeddings.create(model="e", input="a")  # the SDK asks base64 and decodes
    assert default.data[0].embedding == pytest.approx(floats.data[0].embedding, rel=1e-6)


def test_openai_models_list_and_retrieve(oa: Any) -> None:
    ids = [m.id for m in oa.models.list()]
    assert "gpt-4o-mini" in ids
    assert oa.models.retrieve("gpt-4o").object == "model"


def test_openai_errors_raise_matching_sdk_exceptions(oa_fake: FakeUpstream, oa: Any) -> None:
    bad: Any = openai.OpenAI(base_url=oa_fake.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as auth:
        bad.chat.completions.create(model="m", messages=user("x"))
    assert auth.value.code == "invalid_api_key"
    with pytest.raises(openai.BadRequestError) as bad_role:
        oa.chat.completions.create(model="m", messages=[{"role": "wizard", "content": "x"}])
    assert bad_role.value.param == "messages[0].role"
    oa_fake.add_fault(status=429, retry_after=2)
    with pytest.raises(openai.RateLimitError) as limited:
        oa.chat.completions.create(model="m", messages=user("x"))
    assert limited.value.response.headers["retry-after"] == "2"
    oa_fake.add_fault(status=500)
    with pytest.raises(openai.InternalServerError):
        oa.chat.completions.create(model="m", messages=user("x"))
    oa_fake.add_fault(status=400, code="context_length_exceeded")
    with pytest.raises(openai.BadRequestError) as too_long:
        oa.chat.completions.create(model="m", messages=user("x"))
    assert too_long.value.code == "context_length_exceeded"


def test_openai_in_stream_error_event_raises(oa_fake: FakeUpstream, oa: Any) -> None:
    oa_fake.add_fault(error_event_after_chunks=2)
    got = []
    with pytest.raises(openai.APIError, match="server had an error"):
        for chunk in oa.chat.completions.create(model="m", messages=user("x"), stream=True):
            got.append(chunk.choices[0].delta.content)
    assert got == ["", "word0 ", "word1 "]


async def test_openai_async_client_chat_and_stream(oa_fake: FakeUpstream) -> None:
    client: Any = openai.AsyncOpenAI(base_url=oa_fake.base_url, api_key=OKEY, max_retries=0, timeout=5)
    r = await client.chat.completions.create(model="m", messages=user("echo: hi you"))
    assert r.choices[0].message.content == " hi you"
    stream = await client.chat.completions.create(model="m", messages=user("tokens:3"), stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "word0 word1 word2"
    await client.close()


# -- Anthropic -----------------------------------------------------------------------------
def test_anthropic_create_returns_message(an: Any) -> None:
    m = an.messages.create(model="claude-x", max_tokens=100, system="be brief",
                           messages=user("hello"))
    assert m.type == "message" and m.id.startswith("msg_") and m.stop_reason == "end_turn"
    assert m.content[0].text == WORDS12 and m.usage.input_tokens == 3
    m = an.messages.create(model="c", max_tokens=2, messages=user("x"))
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 2


def test_anthropic_stream_text_has_full_event_sequence(an: Any) -> None:
    with an.messages.stream(model="c", max_tokens=50, messages=user("tokens:3")) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    assert final.content[0].text == "word0 word1 word2" and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3 and final.usage.input_tokens == 1
    for needed in ("message_start", "content_block_start", "content_block_delta",
                   "content_block_stop", "message_delta", "message_stop"):
        assert needed in kinds


def test_anthropic_stream_wire_order(an_fake: FakeUpstream) -> None:
    r = httpx.post(an_fake.url + "/v1/messages", headers={
        "x-api-key": AKEY, "anthropic-version": "2023-06-01"},
        json={"model": "c", "max_tokens": 9, "stream": True, "messages": user("tokens:1")})
    names = [line[7:] for line in r.text.splitlines() if line.startswith("event: ")]
    assert names == ["message_start", "content_block_start", "ping", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]
    assert r.headers["request-id"].startswith("req_")


def test_anthropic_stream_tool_use_final_message(an: Any) -> None:
    with an.messages.stream(model="c", max_tokens=50, tools=[ANTHROPIC_TOOL],
                            messages=user("call tool please")) as stream:
        deltas = [e.delta.partial_json for e in stream
                  if e.type == "content_block_delta" and e.delta.partial_json]
        final = stream.get_final_message()
    assert len(deltas) >= 3 and final.stop_reason == "tool_use"
    block = final.content[0]
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == TOOL_ARGUMENTS
    follow = an.messages.create(model="c", max_tokens=50, tools=[ANTHROPIC_TOOL], messages=[
        *user("call tool please"),
        {"role": "assistant", "content": [{"type": "tool_use", "id": block.id, "name": block.name,
                                           "input": block.input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id,
                                      "content": "sunny"}]}])
    assert follow.content[0].text == WORDS12


def test_anthropic_prefill_continues(an: Any) -> None:
    m = an.messages.create(model="c", max_tokens=50, messages=[
        *user("tokens:5"), {"role": "assistant", "content": "word0 word1"}])
    assert m.content[0].text == " word2 word3 word4"


@pytest.mark.parametrize("messages, extra, fragment", [
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], {}, "alternate"),
    ([{"role": "system", "content": "s"}, {"role": "user", "content": "b"}], {}, "system"),
    ([{"role": "assistant", "content": "a"}], {}, "first message"),
    ([], {}, "at least one"),
    ([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}]}],
     {}, "tool_use_id"),
    ([{"role": "user", "content": [{"type": "video", "url": "x"}]}], {}, "does not match"),
    ([{"role": "user", "content": "x"}, {"role": "assistant", "content": "ends "}], {}, "whitespace"),
    ([{"role": "user", "content": "x"}], {"frequency_penalty": 1}, "Extra inputs"),
])
def test_anthropic_rejects_what_the_real_api_rejects(
    an: Any, messages: Any, extra: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(anthropic.BadRequestError, match=fragment) as err:
        an.messages.create(model="c", max_tokens=10, messages=messages, extra_body=extra)
    assert cast(dict[str, Any], err.value.body)["error"]["type"] == "invalid_request_error"


def test_anthropic_requires_version_header_and_key(an_fake: FakeUpstream) -> None:
    body = {"model": "c", "max_tokens": 5, "messages": user("x")}
    r = httpx.post(an_fake.url + "/v1/messages", headers={"x-api-key": AKEY}, json=body)
    assert r.status_code == 400 and "anthropic-version" in r.json()["error"]["message"]
    bad: Any = anthropic.Anthropic(base_url=an_fake.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="c", max_tokens=5, messages=user("x"))


def test_anthropic_overloaded_and_stream_error(an_fake: FakeUpstream, an: Any) -> None:
    an_fake.add_fault(status=529)
    with pytest.raises(anthropic.InternalServerError) as err:
        an.messages.create(model="c", max_tokens=5, messages=user("x"))
    assert err.value.status_code == 529 and cast(dict[str, Any], err.value.body)["error"]["type"] == "overloaded_error"
    an_fake.add_fault(error_event_after_chunks=1)
    with pytest.raises(anthropic.APIStatusError, match="overloaded"):
        with an.messages.stream(model="c", max_tokens=5, messages=user("x")) as stream:
            stream.get_final_message()


# -- Ollama --------------------------------------------------------------------------------
def test_ollama_chat_stream_embed_and_list(ol_fake: FakeUpstream) -> None:
    client: Any = ollama.Client(host=ol_fake.url, timeout=5)
    r = client.chat(model="llama3.2", messages=user("tokens:3"), stream=False,
                    options={"temperature": 0.1, "seed": 1})
    assert r.message.content == "word0 word1 word2" and r.done and r.done_reason == "stop"
    assert r.eval_count == 3 and r.prompt_eval_count == 1
    parts = list(client.chat(model="llama3.2", messages=user("x"), stream=True,
                             options={"num_predict": 4}))
    assert "".join(p.message.content for p in parts) == "word0 word1 word2 word3 "
    assert parts[-1].done and parts[-1].done_reason == "length"
    tool = client.chat(model="llama3.2", messages=user("call tool"), tools=[WEATHER_TOOL])
    assert tool.message.tool_calls[0].function.arguments == TOOL_ARGUMENTS
    emb = client.embed(model="nomic-embed-text", input=["a", "b"])
    assert len(emb.embeddings) == 2 and len(emb.embeddings[0]) == 8
    assert {m.model for m in client.list().models} == {"llama3.2:latest", "nomic-embed-text"}
    with pytest.raises(ollama.ResponseError) as err:
        client.chat(model="nope", messages=user("x"), stream=False)
    assert err.value.status_code == 404


def test_ollama_stream_is_default_and_ndjson(ol_fake: FakeUpstream) -> None:
    r = httpx.post(ol_fake.url + "/api/chat", json={"model": "llama3.2", "messages": user("tokens:2")})
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [x["done"] for x in lines] == [False, False, True] and lines[-1]["eval_count"] == 2


# -- Faults ------------------------------------------------------------------------------
def test_cut_after_chunks_breaks_the_stream(oa_fake: FakeUpstream, oa: Any) -> None:
    oa_fake.add_fault(cut_after_chunks=3)
    got = []
    with pytest.raises((openai.APIConnectionError, httpx.RemoteProtocolError)):
        for chunk in oa.chat.completions.create(model="m", messages=user("x"), stream=True):
            got.append(chunk.choices[0].delta.content)
    assert got == ["", "word0 ", "word1 ", "word2 "]
    assert oa_fake.stats()["disconnects"] == []  # our own abort is not a client disconnect


def test_stall_keeps_connection_until_client_leaves(oa_fake: FakeUpstream) -> None:
    oa_fake.add_fault(stall_after_chunks=1)
    client: Any = openai.OpenAI(base_url=oa_fake.base_url, api_key=OKEY, max_retries=0, timeout=0.4)
    got = []
    with pytest.raises((openai.APITimeoutError, httpx.ReadTimeout)):
        for chunk in client.chat.completions.create(model="m", messages=user("x"), stream=True):
            got.append(chunk.choices[0].delta.content)
    left = time.monotonic()
    assert got == ["", "word0 "]
    assert wait_for(lambda: oa_fake.stats()["disconnects"])
    assert oa_fake.stats()["disconnects"][0] - left < 1.0
    assert wait_for(lambda: oa_fake.stats()["streams_open"] == 0 and oa_fake.stats()["active"] == 0)


def test_client_leaving_mid_stream_is_seen_as_a_disconnect(oa_fake: FakeUpstream) -> None:
    oa_fake.add_fault(chunk_delay_ms=200)
    body = {"model": "m", "messages": user("tokens:50"), "stream": True}
    with httpx.stream("POST", oa_fake.url + "/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {OKEY}"}) as r:
        lines = r.iter_lines()
        while not next(lines).startswith('data: {"id"'):
            pass
        assert oa_fake.stats()["streams_open"] == 1
    left = time.monotonic()
    assert wait_for(lambda: oa_fake.stats()["disconnects"])
    assert oa_fake.stats()["disconnects"][0] - left < 1.0
    assert wait_for(lambda: oa_fake.stats()["streams_open"] == 0 and oa_fake.stats()["active"] == 0)


def test_reset_and_hang(oa_fake: FakeUpstream, oa: Any) -> None:
    oa_fake.add_fault(reset=True)
    with pytest.raises(openai.APIConnectionError):
        oa.chat.completions.create(model="m", messages=user("x"))
    oa_fake.add_fault(hang=True)
    client: Any = openai.OpenAI(base_url=oa_fake.base_url, api_key=OKEY, max_retries=0, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=user("x"))
    assert time.monotonic() - started < 2
    assert wait_for(lambda: len(oa_fake.stats()["disconnects"]) == 1)
    assert oa_fake.stats()["active"] == 0


def test_hang_is_released_when_the_server_stops() -> None:
    errors: list[BaseException] = []
    with FakeUpstream("ollama") as fake:
        fake.add_fault(hang=True)

        def call() -> None:
            try:
                httpx.post(fake.url + "/api/tags", timeout=5)
            except httpx.HTTPError as exc:
                errors.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        assert wait_for(lambda: fake.stats()["active"] == 1)
        started = time.monotonic()
    assert time.monotonic() - started < 2
    caller.join(3)
    assert errors and isinstance(errors[0], httpx.RemoteProtocolError)


def test_no_done_and_malformed_events(oa_fake: FakeUpstream, an_fake: FakeUpstream) -> None:
    body = {"model": "m", "messages": user("tokens:3"), "stream": True}
    auth = {"Authorization": f"Bearer {OKEY}"}
    oa_fake.add_fault(no_done=True)
    text = httpx.post(oa_fake.url + "/v1/chat/completions", json=body, headers=auth).text
    assert "[DONE]" not in text and '"finish_reason":"stop"' in text
    oa_fake.add_fault(malformed_after_chunks=1)
    text = httpx.post(oa_fake.url + "/v1/chat/completions", json=body, headers=auth).text
    events = text.split("\n\n")
    assert events[2] == "data: {not json" and events[-2] == "data: [DONE]"
    an_fake.add_fault(no_done=True)
    text = httpx.post(an_fake.url + "/v1/messages", json={**body, "max_tokens": 5},
                      headers={"x-api-key": AKEY, "anthropic-version": "2023-06-01"}).text
    assert "message_delta" in text and "message_stop" not in text


def test_delays_before_headers_and_first_token(oa_fake: FakeUpstream) -> None:
    body = {"model": "m", "messages": user("tokens:3"), "stream": True}
    auth = {"Authorization": f"Bearer {OKEY}"}
    oa_fake.add_fault(delay_ms=300)
    started = time.monotonic()
    httpx.post(oa_fake.url + "/v1/chat/completions", json=body, headers=auth)
    assert time.monotonic() - started >= 0.3
    oa_fake.add_fault(first_token_delay_ms=400, chunk_delay_ms=50)
    started = time.monotonic()
    with httpx.stream("POST", oa_fake.url + "/v1/chat/completions", json=body, headers=auth) as r:
        headers_at = time.monotonic() - started
        r.read()
    assert headers_at < 0.3 and time.monotonic() - started >= 0.5


def test_fault_filters_times_counters_and_http_control(oa_fake: FakeUpstream, oa: Any) -> None:
    oa_fake.add_fault(key="sk-other", status=401, times=-1)
    oa_fake.add_fault(model="bad-model", status=503, times=2)
    other: Any = openai.OpenAI(base_url=oa_fake.base_url, api_key="sk-other", max_retries=0)
    for _ in range(2):
        with pytest.raises(openai.AuthenticationError):
            other.chat.completions.create(model="m", messages=user("x"))
        with pytest.raises(openai.InternalServerError):
            oa.chat.completions.create(model="bad-model", messages=user("x"))
    oa.chat.completions.create(model="bad-model", messages=user("x"))  # times used up
    stats = oa_fake.stats()
    assert stats["hits"] == 5 and stats["hits_by_key"] == {"sk-other": 2, OKEY: 3}
    assert stats["hits_by_path"] == {"/v1/chat/completions": 5} and stats["faults_pending"] == 1
    assert oa_fake.requests[-1].json["model"] == "bad-model"
    assert oa_fake.requests[-1].headers["Authorization"] == f"Bearer {OKEY}"
    assert httpx.delete(oa_fake.url + "/_fault").status_code == 200
    assert httpx.post(oa_fake.url + "/_fault", json=[{"status": 500}, {"oversized_bytes": 5000}]).json()["pending"] == 2
    assert httpx.post(oa_fake.url + "/_fault", json={"statuss": 500}).status_code == 400
    with pytest.raises(openai.InternalServerError):
        oa.chat.completions.create(model="m", messages=user("x"))
    big = oa.chat.completions.create(model="m", messages=user("x"))
    assert len(big.choices[0].message.content) == 5000
    assert httpx.get(oa_fake.url + "/_stats").json()["hits"] == 7
    httpx.post(oa_fake.url + "/_reset")
    assert oa_fake.stats()["hits"] == 0 and oa_fake.requests == []
