"""Hostile input on ``POST /v1/responses``: every field the front end or an adapter behind
it reads, replaced by values of the wrong type, shape or size, on every provider type,
whole and streamed; plus hostile ids and pages on the read routes. Never a 5xx; a refusal
is an OpenAI-shaped 4xx; the providers stay healthy."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from .conftest import PROVIDERS, Gateway
from .ingresses import RESPONSES

pytestmark = pytest.mark.timeout(120)

HOSTILE: list[Any] = [
    None, True, -1, 1.5e300, "", "x" * 20_000, "\u202e\U0001f4a5", [None], [[]],
    {"type": None}, {"type": "telepathy", "x": 1}, [{"type": 7}],
    [{"role": "system", "content": 5}], {"format": {"type": "json_schema", "schema": "x"}},
]


def _bodies(alias: str) -> list[dict[str, Any]]:
    valid = RESPONSES.valid(alias)
    bodies = [{**valid, field: value} for field in RESPONSES.fields for value in HOSTILE]
    for value in HOSTILE:  # one level down: an item, a content part, a tool
        bodies.append({**valid, "input": [value]})
        bodies.append({**valid, "input": [{"role": "user", "content": [value]}]})
        bodies.append({**valid, "input": [{"type": "function_call", "call_id": value,
                                           "name": value, "arguments": value}]})
        bodies.append({**valid, "input": [{"type": "function_call_output", "call_id": "c",
                                           "output": value}]})
        bodies.append({**valid, "tools": [value]})
        bodies.append({**valid, "tools": [{"type": "function", "name": "f",
                                           "parameters": value}]})
        bodies.append({**valid, "tool_choice": {"type": "function", "name": value}})
    return bodies


async def _check(http: httpx.AsyncClient, body: dict[str, Any]) -> None:
    resp = await http.post(RESPONSES.path, json=body)
    assert resp.status_code < 500, (body, resp.status_code, resp.text[:300])
    if resp.status_code >= 400:
        error = resp.json()["error"]
        assert error["type"] and error["message"], resp.text
    elif body.get("stream") is True:
        assert b"event: response.completed" in resp.content, resp.text[-300:]


@pytest.mark.parametrize("alias", list(PROVIDERS))
async def test_hostile_fields_never_give_a_5xx(gateway: Gateway, alias: str) -> None:
    bodies = _bodies(alias)
    bodies += [{**b, "stream": True} for b in bodies[::3] if "stream" not in b]
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30,
                                 headers={"Authorization": f"Bearer {gateway.key}"},
                                 limits=httpx.Limits(max_connections=16)) as http:
        for start in range(0, len(bodies), 32):
            await asyncio.gather(*(_check(http, b) for b in bodies[start:start + 32]))
        ok = await http.post(RESPONSES.path, json=RESPONSES.valid(alias))
        assert ok.status_code == 200, ok.text
    health = gateway.health(alias)
    assert health["state"] == "running" and health["crashes"] == 0, health


async def test_hostile_ids_and_pages_on_the_read_routes(gateway: Gateway) -> None:
    ids = ["x", "resp_" + "f" * 48, "resp_%2e%2e%2fadmin", "%00", "r" * 3000, "résp_ü",
           "resp_00000000" + "0" * 40]
    queries = [{}, {"limit": "0"}, {"limit": "-5"}, {"limit": "1e9"}, {"order": "sideways"},
               {"after": "\u0000"}, {"limit": "abc"}]
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10,
                                 headers={"Authorization": f"Bearer {gateway.key}"}) as http:
        for rid in ids:
            for method, path in (("GET", f"/v1/responses/{rid}"),
                                 ("DELETE", f"/v1/responses/{rid}")):
                resp = await http.request(method, path)
                assert 400 <= resp.status_code < 500, (method, rid, resp.text[:200])
            for query in queries:
                resp = await http.get(f"/v1/responses/{rid}/input_items", params=query)
                assert 400 <= resp.status_code < 500, (rid, query, resp.text[:200])
        for raw in (b"", b"[]", b"null", b"1", b'"x"', b"{", b"\xff\xfe", b'{"a":' * 200):
            resp = await http.post(RESPONSES.path, content=raw,
                                   headers={"content-type": "application/json"})
            assert resp.status_code == 400, (raw, resp.text)
            assert resp.json()["error"]["type"] == "invalid_request_error"
