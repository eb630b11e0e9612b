"""The cache layer without servers: keys, policy headers, entries and replays, and the
single flight that lets identical concurrent requests share one upstream call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import orjson
import pytest

from proxy.cache import Entry, MemoryBackend, ResponseCache, cache_key
from proxy.router import HopCall, Trace
from proxy.routing import Hop, Route
from supervisors.errors import InvalidRequest
from supervisors.messages import Chunk, Result

pytestmark = pytest.mark.timeout(30)

ROUTE = Route("m", (Hop("p", "up", cache_ttl=60),))
OFF = Route("m", (Hop("p", "up"),))
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
WHOLE = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "up",
         "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"},
                      "finish_reason": "stop", "logprobs": None}],
         "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


def test_key_ignores_key_order_stream_and_user_but_not_scope_or_content() -> None:
    base = cache_key("tenant:a", "/v1/chat/completions", "m", BODY)
    shuffled = {"temperature": 0, "messages": BODY["messages"], "model": "m", "stream": True,
                "stream_options": {"include_usage": True}, "user": "u1"}
    assert cache_key("tenant:a", "/v1/chat/completions", "m", shuffled) == base
    assert cache_key("tenant:b", "/v1/chat/completions", "m", BODY) != base
    assert cache_key("tenant:a", "/v1/completions", "m", BODY) != base
    assert cache_key("tenant:a", "/v1/chat/completions", "m", {**BODY, "temperature": 1}) != base


def test_entries_round_trip_and_reject_garbage() -> None:
    entry = Entry.whole("chat", Result(WHOLE))
    assert Entry.decode(entry.encode()) == entry
    assert Entry.decode(b"not json") is None
    assert Entry.decode(b'{"v": 99}') is None


def test_a_whole_answer_is_stored_and_replayed_as_the_bytes_it_was_served_as() -> None:
    raw = orjson.dumps(WHOLE, option=orjson.OPT_INDENT_2)  # the upstream's own spacing
    result = Result(WHOLE, raw)
    encoded = Entry.encode_whole("chat", result)
    assert encoded == Entry.whole("chat", result).encode()
    entry = Entry.decode(encoded)
    assert entry is not None and entry.obj == WHOLE and entry.usage == WHOLE["usage"]
    replayed = entry.result()
    assert replayed is not None and replayed.raw == raw and replayed.obj == WHOLE


def _content(batches: list[list[Chunk]]) -> tuple[str, list[Any], list[dict[str, Any]]]:
    objs = [c.obj for batch in batches for c in batch]
    text = "".join((ch.get("delta") or {}).get("content") or ""
                   for o in objs for ch in o["choices"])
    finishes = [ch["finish_reason"] for o in objs for ch in o["choices"] if ch["finish_reason"]]
    return text, finishes, [o for o in objs if not o["choices"]]


def test_whole_chat_answer_replays_as_chunks_with_usage_only_when_asked() -> None:
    entry = Entry.whole("chat", Result(WHOLE))
    batches = entry.batches(with_usage=True)
    assert batches is not None
    text, finishes, usage = _content(batches)
    assert (text, finishes) == ("Hello!", ["stop"])
    assert [u["usage"] for u in usage] == [WHOLE["usage"]]
    assert all(c.obj["object"] == "chat.completion.chunk" for c in batches[0])
    assert all(c.obj["id"] == "chatcmpl-1" for c in batches[0])
    unasked = entry.batches(with_usage=False)
    assert unasked is not None and _content(unasked)[2] == []


def test_stream_entry_drops_the_usage_chunk_and_keeps_usage_apart() -> None:
    chunks = [Chunk({"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"},
                                             "finish_reason": None}]}),
              Chunk({"id": "c", "choices": [{"index": 0, "delta": {},
                                             "finish_reason": "stop"}]}),
              Chunk({"id": "c", "choices": [], "usage": {"total_tokens": 4}})]
    entry = Entry.stream("chat", [chunks[:1], chunks[1:]], {"total_tokens": 4})
    assert entry.chunks is not None and len(entry.chunks) == 2
    whole = entry.result()
    assert whole is not None and whole.obj["usage"] == {"total_tokens": 4}
    again = entry.batches(with_usage=True)
    assert again is not None and _content(again)[2][0]["usage"] == {"total_tokens": 4}


def test_chat_stream_assembles_into_the_whole_answer_tool_calls_included() -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> Chunk:
        return Chunk({"id": "c1", "created": 5, "model": "up", "object": "chat.completion.chunk",
                      "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    stream = [chunk({"role": "assistant", "content": "Let me "}), chunk({"content": "check."}),
              chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                     "function": {"name": "weather", "arguments": "{\"ci"}}]}),
              chunk({"tool_calls": [{"index": 0, "function": {"arguments": "ty\": 1}"}}]}),
              chunk({}, "tool_calls")]
    result = Entry.stream("chat", [stream], {"total_tokens": 9}).result()
    assert result is not None
    assert result.obj == {
        "id": "c1", "created": 5, "model": "up", "object": "chat.completion",
        "choices": [{"index": 0, "logprobs": None, "finish_reason": "tool_calls",
                     "message": {"role": "assistant", "content": "Let me check.",
                                 "tool_calls": [{"id": "call_1", "type": "function",
                                                 "function": {"name": "weather",
                                                              "arguments": '{"city": 1}'}}]}}],
        "usage": {"total_tokens": 9}}


def test_whole_text_completion_replays_as_text_chunks() -> None:
    obj = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "up",
           "choices": [{"index": 0, "text": "abc", "finish_reason": "length",
                        "logprobs": None}]}
    batches = Entry.whole("completions", Result(obj)).batches(with_usage=False)
    assert batches is not None
    objs = [c.obj for c in batches[0]]
    assert "".join(ch["text"] for o in objs for ch in o["choices"]) == "abc"
    assert objs[-1]["choices"][0]["finish_reason"] == "length"


class _Router:
    """A stand-in upstream: counts calls, answers after ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay

    async def unary(self, plan: Any, route: Route, request_id: str, trace: Trace) -> Result:
        self.calls += 1
        await asyncio.sleep(self.delay)
        trace.op = "chat"
        return Result(WHOLE)

    async def stream(self, plan: Any, route: Route, request_id: str,
                     trace: Trace) -> AsyncGenerator[list[Chunk], None]:
        self.calls += 1
        trace.op = "chat"
        yield [Chunk({"id": "c", "model": "up", "choices": [
            {"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]})]
        yield [Chunk({"id": "c", "model": "up", "choices": [
            {"index": 0, "delta": {}, "finish_reason": "stop"}]})]


def _plan(hop: Hop, prefill: str | None) -> HopCall:
    return HopCall("chat", dict(BODY))


async def _ask(cache: ResponseCache, router: _Router, headers: dict[str, str] | None = None,
               stream: bool = False, scope: str = "tenant:a", route: Route = ROUTE
               ) -> tuple[Trace, Any]:
    trace = Trace()
    step = await cache.begin(headers or {}, scope, "/v1/chat/completions", "m", BODY, stream,
                             route, trace)
    source = router if step is None else step.source(router)
    try:
        if stream:
            return trace, [b async for b in source.stream(_plan, route, "r", trace)]
        return trace, await source.unary(_plan, route, "r", trace)
    finally:
        if step is not None:
            step.release()


async def test_hit_after_miss_and_results_counted() -> None:
    results: list[str] = []
    cache, router = ResponseCache(MemoryBackend(1 << 20), results.append), _Router()
    first, _ = await _ask(cache, router)
    second, answer = await _ask(cache, router)
    assert (first.cache, second.cache, router.calls) == ("miss", "hit", 1)
    assert answer.obj == WHOLE and second.reasons == ["cache_hit"]
    assert results == ["miss", "hit"]


async def test_off_without_ttl_and_header_turns_it_on_or_off() -> None:
    cache, router = ResponseCache(MemoryBackend(1 << 20), lambda r: None), _Router()
    trace, _ = await _ask(cache, router, route=OFF)
    assert trace.cache is None
    await _ask(cache, router, {"x-proxy-cache-ttl": "30"}, route=OFF)
    trace, _ = await _ask(cache, router, {"x-proxy-cache-ttl": "30"}, route=OFF)
    assert trace.cache == "hit"
    trace, _ = await _ask(cache, router, {"x-proxy-cache-ttl": "0"})
    assert trace.cache is None
    for bad in ("soon", "-1", "1.5", "²", "9" * 5000, "31536001"):
        with pytest.raises(InvalidRequest):
            await _ask(cache, router, {"x-proxy-cache-ttl": bad})


async def test_no_cache_skips_lookup_and_no_store_skips_storing() -> None:
    cache, router = ResponseCache(MemoryBackend(1 << 20), lambda r: None), _Router()
    trace, _ = await _ask(cache, router, {"Cache-Control": "no-store"})
    assert trace.cache == "miss"
    trace, _ = await _ask(cache, router)
    assert trace.cache == "miss"  # nothing was stored
    trace, _ = await _ask(cache, router, {"Cache-Control": "No-Cache, max-age=0"})
    assert trace.cache == "bypass" and router.calls == 3
    trace, _ = await _ask(cache, router)
    assert trace.cache == "hit"  # the bypassing request stored its answer


async def test_scopes_never_share() -> None:
    cache, router = ResponseCache(MemoryBackend(1 << 20), lambda r: None), _Router()
    await _ask(cache, router, scope="tenant:a")
    trace, _ = await _ask(cache, router, scope="tenant:b")
    assert trace.cache == "miss" and router.calls == 2


async def test_streams_are_stored_and_whole_answers_replay_as_streams() -> None:
    cache, router = ResponseCache(MemoryBackend(1 << 20), lambda r: None), _Router()
    await _ask(cache, router, stream=True)
    trace, batches = await _ask(cache, router, stream=True)
    assert trace.cache == "hit" and _content(batches)[0] == "Hi"
    trace, answer = await _ask(cache, router)  # the stream answers a whole request too
    assert trace.cache == "hit" and router.calls == 1
    assert answer.obj["choices"][0]["message"] == {"role": "assistant", "content": "Hi"}
    assert answer.obj["choices"][0]["finish_reason"] == "stop"


async def test_fifty_identical_concurrent_requests_call_upstream_once() -> None:
    cache, router = ResponseCache(MemoryBackend(1 << 20), lambda r: None), _Router(delay=0.2)
    outcomes = await asyncio.gather(*(_ask(cache, router) for _ in range(50)))
    assert router.calls == 1
    assert sorted(t.cache or "" for t, _ in outcomes) == ["hit"] * 49 + ["miss"]
    assert all(answer.obj == WHOLE for _, answer in outcomes)
