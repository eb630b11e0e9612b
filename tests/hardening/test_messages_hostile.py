"""Hostile input on the Anthropic Messages routes: every field the front end or an adapter
behind it reads, replaced by values of the wrong type, shape or size, on every provider
type, streamed and not. Never a 5xx; a refusal is an Anthropic-shaped 4xx; the providers
stay healthy."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from .conftest import PROVIDERS, Gateway
from .ingresses import COUNT_TOKENS, MESSAGES, Ingress

pytestmark = pytest.mark.timeout(120)

HOSTILE: list[Any] = [
    None, True, -1, 1.5e300, "", "x" * 20_000, [None], [[]], {"type": None},
    {"type": "unknown_block", "x": 1}, [{"type": 7}], [{"role": "system", "content": 5}],
]


def _bodies(ingress: Ingress, alias: str) -> list[dict[str, Any]]:
    bodies = []
    for field in ingress.fields:
        for value in HOSTILE:
            bodies.append({**ingress.valid(alias), **{field: value}})
    # one level down: each message, block and tool replaced by a hostile value
    for value in HOSTILE:
        bodies.append({**ingress.valid(alias), "messages": [{"role": "user", "content": [value]}]})
        bodies.append({**ingress.valid(alias), "tools": [value]})
        bodies.append({**ingress.valid(alias), "messages": [
            {"role": "assistant", "content": [{"type": "tool_use", "id": value, "name": value,
                                               "input": value}]}]})
    return bodies


async def _check(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    resp = await http.post(path, json=body)
    assert resp.status_code < 500, (body, resp.status_code, resp.text[:300])
    if resp.status_code >= 400:
        error = resp.json()
        assert error["type"] == "error", resp.text
        assert error["error"]["type"] and error["error"]["message"], resp.text


@pytest.mark.parametrize("ingress", [MESSAGES, COUNT_TOKENS], ids=lambda i: i.name)
@pytest.mark.parametrize("alias", list(PROVIDERS))
async def test_hostile_fields_never_give_a_5xx(gateway: Gateway, ingress: Ingress,
                                               alias: str) -> None:
    bodies = _bodies(ingress, alias)
    if ingress is MESSAGES:  # streamed too (odd ones out: every third body)
        bodies += [{**b, "stream": True} for b in bodies[::3] if "stream" not in b]
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30,
                                 headers={"x-api-key": gateway.key},
                                 limits=httpx.Limits(max_connections=16)) as http:
        for start in range(0, len(bodies), 32):
            await asyncio.gather(*(_check(http, ingress.path, b)
                                   for b in bodies[start:start + 32]))
        ok = await http.post(ingress.path, json=ingress.valid(alias))
        assert ok.status_code == 200, ok.text
    health = gateway.health(alias)
    assert health["state"] == "running" and health["crashes"] == 0, health


async def test_bodies_that_are_not_objects(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10,
                                 headers={"x-api-key": gateway.key}) as http:
        for raw in (b"", b"[]", b"null", b"1", b'"x"', b"{", b"\xff\xfe", b'{"a":' * 200):
            for path in (MESSAGES.path, COUNT_TOKENS.path):
                resp = await http.post(path, content=raw,
                                       headers={"content-type": "application/json"})
                assert resp.status_code == 400, (raw, resp.text)
                assert resp.json()["error"]["type"] == "invalid_request_error"
