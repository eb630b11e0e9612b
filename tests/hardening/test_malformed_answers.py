"""Upstream answers that parse as JSON but are not what the provider's API promises
(a number where the choices are, a delta that is a string, usage that is a list ...):
that call fails with a 502 — or, after the first byte, the in-band error — in the
front end's own shape, never a 500; no worker crashes and the next call is served."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from tests.harness import ProxyProcess

from .threaded_app import ThreadedApp

pytestmark = pytest.mark.timeout(120)

GOOD_CHUNK = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
              "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"},
                           "finish_reason": None}]}

#: model name → whole answer (a JSON value)
WHOLE: dict[str, Any] = {
    "w-choices-number": {"id": "x", "object": "chat.completion", "choices": 5},
    "w-choice-string": {"id": "x", "object": "chat.completion", "choices": ["x"]},
    "w-message-number": {"id": "x", "object": "chat.completion",
                         "choices": [{"index": 0, "message": 5, "finish_reason": "stop"}]},
    "w-content-object": {"id": "x", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": {"a": 1}},
         "finish_reason": "stop"}]},
    "w-tool-calls-number": {"id": "x", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": 5},
         "finish_reason": "tool_calls"}]},
    "w-usage-list": {"id": "x", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"},
         "finish_reason": "stop"}], "usage": [1]},
}
#: model name → stream events after one good chunk (None: no good chunk first)
STREAM: dict[str, tuple[bool, list[Any]]] = {
    "s-choices-number": (False, [{"id": "c", "choices": 5}]),
    "s-delta-string": (False, [{"id": "c", "choices": [{"index": 0, "delta": "Hi"}]}]),
    "s-content-number": (False, [{"id": "c", "choices": [{"index": 0, "delta": {"content": 5}}]}]),
    "s-later-choices-number": (True, [{"id": "c", "choices": 5}]),
    "s-later-tool-calls-number": (True, [{"id": "c", "choices": [
        {"index": 0, "delta": {"tool_calls": 5}}]}]),
    "s-later-usage-list": (True, [{"id": "c", "choices": [], "usage": [1]}]),
}


async def _chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    model = body["model"]
    if not body.get("stream"):
        answer = WHOLE.get(model, {"id": "x", "object": "chat.completion", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"},
             "finish_reason": "stop"}]})
        return web.Response(body=orjson.dumps(answer), content_type="application/json")
    good_first, events = STREAM.get(model, (True, []))
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    if good_first:  # content first, alone, so that the gateway has sent a byte
        await resp.write(b"data: " + orjson.dumps(GOOD_CHUNK) + b"\n\n")
        await asyncio.sleep(0.2)
    for event in events:
        await resp.write(b"data: " + orjson.dumps(event) + b"\n\n")
    if not events:
        await resp.write(b'data: {"id":"c","choices":[{"index":0,"delta":{},'
                         b'"finish_reason":"stop"}]}\n\n')
    await resp.write(b"data: [DONE]\n\n")
    return resp


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProxyProcess, str]]:
    with ThreadedApp({"/v1/chat/completions": _chat}) as upstream, \
            ProxyProcess(tmp_path_factory.mktemp("answers")) as proc:
        admin = proc.admin
        created = admin.provider("odd", "openai", upstream.url + "/v1",
                                 keys=["sk-odd-000001"], max_retries=0, stream_resume=False,
                                 failure_threshold=1000)
        for model in [*WHOLE, *STREAM, "fine"]:
            admin.mapping(model, created["id"], model)
        yield proc, admin.client_key("answers")


def _request(ingress: str, model: str, stream: bool) -> tuple[str, dict[str, Any]]:
    if ingress == "messages":
        return "/v1/messages", {"model": model, "max_tokens": 16, "stream": stream,
                                "messages": [{"role": "user", "content": "hi"}]}
    if ingress == "responses":
        return "/v1/responses", {"model": model, "input": "hi", "stream": stream,
                                 "store": False}
    return "/v1/chat/completions", {"model": model, "stream": stream,
                                    "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("ingress", ["chat", "messages", "responses"])
def test_malformed_answers_fail_that_call_with_a_502(
    setup: tuple[ProxyProcess, str], ingress: str
) -> None:
    proc, key = setup
    problems = []
    with httpx.Client(base_url=proc.url, timeout=20,
                      headers={"Authorization": f"Bearer {key}"}) as http:
        for model in [*WHOLE, *STREAM]:
            stream = model.startswith("s-")
            path, body = _request(ingress, model, stream)
            resp = http.post(path, json=body)
            text = resp.text
            started = stream and STREAM[model][0]
            if started:  # content went out: the stream must end with an in-band error
                ok = resp.status_code == 200 and "error" in text
            else:
                ok = resp.status_code == 502
            if not ok:
                problems.append(f"{model}: {resp.status_code} {text[:300]}")
        path, body = _request(ingress, "fine", False)
        assert http.post(path, json=body).status_code == 200
    assert not problems, "\n".join(problems)
    health = proc.admin.provider_health("odd")
    assert (health["restarts"], health["crashes"]) == (0, 0), health
