"""Fault isolation through the running server: one client's poison requests fail alone.

Each poison body below once crashed the provider's worker (six of them failed the
provider and cut every other client's stream on it).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import orjson
import pytest

from .conftest import Gateway

pytestmark = pytest.mark.timeout(120)

USER = [{"role": "user", "content": "hello"}]


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"a": [value]}
    return value


def poison_kinds() -> dict[str, dict[str, Any]]:
    deep_tool = {"type": "function",
                 "function": {"name": "f", "parameters": {"type": "object", "p": _deep(300)}}}
    return {
        "deep_json": {"messages": USER, "metadata": _deep(300)},
        "deep_tool_schema": {"messages": USER, "tools": [deep_tool]},
        "json_schema_string": {
            "messages": USER, "response_format": {"type": "json_schema", "json_schema": "x"}},
        "tool_calls_number": {
            "messages": [*USER, {"role": "assistant", "content": "", "tool_calls": 5}]},
    }


async def _post(http: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    # the stdlib encoder: orjson refuses to write JSON nested this deep
    return await http.post("/v1/chat/completions", content=json.dumps(body),
                           headers={"content-type": "application/json"})


def _client(gateway: Gateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gateway.url, timeout=30,
                             headers={"Authorization": f"Bearer {gateway.key}"},
                             limits=httpx.Limits(max_connections=32))


def _assert_healthy(gateway: Gateway, provider: str) -> None:
    health = gateway.health(provider)
    assert health["state"] == "running", health
    assert (health["restarts"], health["crashes"]) == (0, 0), health
    assert health["circuit"]["state"] == "closed", health  # type: ignore[index]


async def _stream_text(http: httpx.AsyncClient, alias: str, prompt: str) -> tuple[str, list[str]]:
    text, finishes = "", []
    body = {"model": alias, "stream": True, "messages": [{"role": "user", "content": prompt}]}
    async with http.stream("POST", "/v1/chat/completions", json=body) as resp:
        assert resp.status_code == 200, await resp.aread()
        async for line in resp.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = orjson.loads(line[6:])
            assert "error" not in event, event
            for choice in event["choices"]:
                text += choice["delta"].get("content") or ""
                if choice.get("finish_reason"):
                    finishes.append(choice["finish_reason"])
    return text, finishes


@pytest.mark.parametrize("alias", ["an", "ol", "mk"])
async def test_another_clients_stream_survives_poison_requests(
    gateway: Gateway, alias: str
) -> None:
    if alias in gateway.fakes:
        gateway.fakes[alias].add_fault(times=1, chunk_delay_ms=40)
        prompt = "tokens:40"
    else:
        prompt = " ".join(f"w{i}" for i in range(40))
    async with _client(gateway) as http:
        victim = asyncio.create_task(_stream_text(http, alias, prompt))
        await asyncio.sleep(0.3)  # the stream is under way
        assert not victim.done()
        poison = [{"model": alias, **body} for body in poison_kinds().values()] * 5
        answers = await asyncio.gather(*(_post(http, b) for b in poison))
        assert [r.status_code for r in answers] == [400] * len(poison)
        assert not victim.done(), "poison requests must not wait for the stream"
        text, finishes = await victim
    assert finishes == ["stop"]
    if alias != "mk":
        assert text == "".join(f"word{i} " for i in range(39)) + "word39"
    _assert_healthy(gateway, alias)


@pytest.mark.parametrize("alias", ["oa", "an", "ol", "mk"])
async def test_provider_stays_healthy_after_100_poison_requests_of_each_kind(
    gateway: Gateway, alias: str
) -> None:
    async with _client(gateway) as http:
        for kind, body in poison_kinds().items():
            for stream in (False, True):
                batch = [{"model": alias, "stream": stream, **body}] * 50
                answers = await asyncio.gather(*(_post(http, b) for b in batch))
                statuses = {r.status_code for r in answers}
                assert statuses == {400}, (kind, stream, answers[0].text)
                error = answers[0].json()["error"]
                assert error["type"] == "invalid_request_error" and error["message"]
        ok = await _post(http, {"model": alias, "messages": USER})
        assert ok.status_code == 200, ok.text
    _assert_healthy(gateway, alias)
    assert gateway.health(alias)["upstream_faults"] == 0


async def test_an_answer_the_adapter_cannot_translate_is_a_502_for_that_call(
    gateway: Gateway,
) -> None:
    gateway.fakes["an"].add_fault(times=2, status=200, body={
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": 5, "stop_reason": "end_turn", "usage": {"input_tokens": 1}})
    before = gateway.health("an")["upstream_faults"]
    async with _client(gateway) as http:
        for _ in range(2):
            bad = await _post(http, {"model": "an", "messages": USER})
            assert bad.status_code == 502, bad.text
            assert bad.json()["error"]["code"] == "bad_upstream_response"
        ok = await _post(http, {"model": "an", "messages": USER})
        assert ok.status_code == 200, ok.text
    _assert_healthy(gateway, "an")
    assert gateway.health("an")["upstream_faults"] == before + 2  # type: ignore[operator]
