"""The OpenAI / custom adapter: requests, errors and the stream decoder, table-driven."""

from __future__ import annotations

import orjson
import pytest

from supervisors.adapters.openai import OpenAIAdapter
from supervisors.errors import ContextLengthExceeded, StreamBroken, UpstreamStatusError
from supervisors.spec import ProviderConfig, ProviderSpec

pytestmark = pytest.mark.timeout(10)

ADAPTER = OpenAIAdapter()


def spec(**config: object) -> ProviderSpec:
    return ProviderSpec(id=1, name="p", type="openai", base_url="http://u/v1",
                        config=ProviderConfig.from_dict(config))


@pytest.mark.parametrize(
    ("config", "stream", "body", "want_headers", "want_body"),
    [
        ({}, False, {"model": "m", "x_unknown": 1}, {"authorization": "Bearer k"},
         {"model": "m", "x_unknown": 1}),
        ({}, True, {"model": "m", "stream": True}, {"accept": "text/event-stream"},
         {"model": "m", "stream": True, "stream_options": {"include_usage": True}}),
        ({}, True, {"model": "m", "stream": True, "stream_options": {"include_usage": True}},
         {}, {"model": "m", "stream": True, "stream_options": {"include_usage": True}}),
        ({"stream_usage": False}, True, {"model": "m", "stream": True}, {},
         {"model": "m", "stream": True}),
        ({"auth_header": "api-key"}, False, {"model": "m"}, {"api-key": "k"}, {"model": "m"}),
        ({"headers": {"X-Org": "o"}}, False, {"model": "m"}, {"X-Org": "o"}, {"model": "m"}),
    ],
)
def test_build_request(config: dict[str, object], stream: bool, body: dict[str, object],
                       want_headers: dict[str, str], want_body: dict[str, object]) -> None:
    req = ADAPTER.build_request("chat", body, stream=stream, spec=spec(**config), key="k")
    assert req.url == "http://u/v1/chat/completions"
    for name, value in want_headers.items():
        assert req.headers[name] == value
    if config.get("auth_header"):
        assert "authorization" not in req.headers
    assert orjson.loads(req.body or b"") == want_body


def test_paths_per_operation() -> None:
    urls = {op: ADAPTER.build_request(op, {"model": "m"}, stream=False, spec=spec(),
                                      key=None).url
            for op in ("chat", "completions", "embeddings")}
    assert urls == {"chat": "http://u/v1/chat/completions",
                    "completions": "http://u/v1/completions",
                    "embeddings": "http://u/v1/embeddings"}


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "client_status", "retryable"),
    [
        (400, {"error": {"message": "too long", "code": "context_length_exceeded"}}, {},
         ContextLengthExceeded, 400, False),
        (400, {"error": {"message": "unsafe", "type": "invalid_request_error",
                         "code": "content_policy_violation"}}, {},
         UpstreamStatusError, 400, False),
        (429, {"error": {"message": "slow down"}}, {"retry-after": "3"},
         UpstreamStatusError, 429, True),
        (500, b"<html>oops</html>", {}, UpstreamStatusError, 502, True),
        (503, {"error": "plain string"}, {"retry-after-ms": "1500"},
         UpstreamStatusError, 502, True),
        (404, {"error": {"message": "no model"}}, {}, UpstreamStatusError, 404, False),
    ],
)
def test_parse_error(status: int, body: object, headers: dict[str, str], kind: type,
                     client_status: int, retryable: bool) -> None:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    err = ADAPTER.parse_error(status, raw, headers, "p")
    assert type(err) is kind
    assert err.status == client_status
    assert err.retryable is retryable
    if "retry-after" in headers:
        assert err.retry_after == 3.0
    if "retry-after-ms" in headers:
        assert err.retry_after == 1.5


def _events(*objs: object, done: bool = True) -> bytes:
    out = b"".join(b"data: " + (o if isinstance(o, bytes) else orjson.dumps(o)) + b"\n\n"
                   for o in objs)
    return out + (b"data: [DONE]\n\n" if done else b"")


CHUNK = {"id": "c", "object": "chat.completion.chunk", "choices": [
    {"index": 0, "delta": {"content": "hé"}, "finish_reason": None}]}
FINAL = {"id": "c", "object": "chat.completion.chunk", "choices": [
    {"index": 0, "delta": {}, "finish_reason": "stop"}]}
USAGE = {"id": "c", "object": "chat.completion.chunk", "choices": [],
         "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}


@pytest.mark.parametrize("split", [1, 7, 10_000])
@pytest.mark.parametrize("wants_usage", [True, False])
def test_stream_decoder_any_split(split: int, wants_usage: bool) -> None:
    data = _events(CHUNK, b"{not json", FINAL, USAGE)
    request = {"stream_options": {"include_usage": True}} if wants_usage else {}
    dec = ADAPTER.stream_decoder("chat", request)
    chunks = []
    for i in range(0, len(data), split):
        chunks += dec.feed(data[i:i + split])
    chunks += dec.close()
    assert [c.obj for c in chunks] == [CHUNK, FINAL] + ([USAGE] if wants_usage else [])
    assert all(c.raw is not None and orjson.loads(c.raw) == c.obj for c in chunks)
    assert dec.done and dec.malformed == 1
    assert dec.usage == USAGE["usage"]


def test_stream_decoder_raises_on_an_error_event() -> None:
    dec = ADAPTER.stream_decoder("chat", {})
    with pytest.raises(StreamBroken, match="overloaded"):
        dec.feed(_events(CHUNK, {"error": {"message": "overloaded"}}, done=False))


def test_stream_without_done_is_not_done() -> None:
    dec = ADAPTER.stream_decoder("chat", {})
    chunks = dec.feed(_events(CHUNK, FINAL, done=False)[:-1])  # last blank line missing
    chunks += dec.close()
    assert len(chunks) == 2 and not dec.done


@pytest.mark.parametrize(("headers", "expected"), [
    ({"retry-after": "2"}, 2.0),
    ({"retry-after": "inf"}, None),
    ({"retry-after": "Infinity"}, None),
    ({"retry-after": "nan"}, None),
    ({"retry-after": "-3"}, 0.0),
    ({"retry-after": "1e308"}, 3600.0),
    ({"retry-after-ms": "inf", "retry-after": "4"}, 4.0),
    ({"retry-after-ms": "1500"}, 1.5),
])
def test_retry_after_is_finite_and_bounded(headers: dict[str, str], expected: float | None) -> None:
    from supervisors.adapters.base import parse_retry_after

    assert parse_retry_after(headers) == expected
