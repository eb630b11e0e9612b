"""An upstream that streams one endless event in small pieces: the gateway's loop stays
responsive (other requests are answered meanwhile) and the call ends with a 502 once
the event passes the per-event cap, for SSE (openai, anthropic) and NDJSON (ollama)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web

from tests.harness import ProxyProcess

from .threaded_app import ThreadedApp

pytestmark = pytest.mark.timeout(120)

PIECE = 2048
TOTAL = 64 << 20  # far past the 1 MiB cap; the gateway must stop reading long before


async def _endless(request: web.Request, content_type: str, head: bytes) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"content-type": content_type})
    await resp.prepare(request)
    await resp.write(head)
    sent = 0
    try:
        while sent < TOTAL:  # one event that never ends, a small piece at a time
            await resp.write(b"x" * PIECE)
            sent += PIECE
            await asyncio.sleep(0.0005)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return resp


async def _openai(request: web.Request) -> web.StreamResponse:
    return await _endless(request, "text/event-stream",
                          b'data: {"id":"c","object":"chat.completion.chunk","choices":'
                          b'[{"index":0,"delta":{"content":"')


async def _anthropic(request: web.Request) -> web.StreamResponse:
    return await _endless(request, "text/event-stream",
                          b'event: message_start\ndata: {"type":"message_start","message":'
                          b'{"id":"m","content":[],"usage":{"input_tokens":1}}}\n\n'
                          b'event: content_block_delta\ndata: {"type":"content_block_delta",'
                          b'"index":0,"delta":{"type":"text_delta","text":"')


async def _ollama(request: web.Request) -> web.StreamResponse:
    return await _endless(request, "application/x-ndjson",
                          b'{"model":"m","created_at":"2024-01-01T00:00:00Z","message":'
                          b'{"role":"assistant","content":"')


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProxyProcess, str]]:
    routes = {"/v1/chat/completions": _openai, "/v1/messages": _anthropic, "/api/chat": _ollama}
    with ThreadedApp(routes) as upstream, \
            ProxyProcess(tmp_path_factory.mktemp("framing")) as proc:
        admin = proc.admin
        for kind, base in (("openai", upstream.url + "/v1"), ("anthropic", upstream.url),
                           ("ollama", upstream.url)):
            created = admin.provider(f"endless-{kind}", kind, base,
                                     keys=[] if kind == "ollama" else ["sk-endless-0001"],
                                     max_retries=0, stream_resume=False)
            admin.mapping(f"endless-{kind}", created["id"], "m")
        mock = admin.provider("quick", "mock")
        admin.mapping("quick", mock["id"], "m")
        yield proc, admin.client_key("framing")


@pytest.mark.parametrize("kind", ["openai", "anthropic", "ollama"])
async def test_an_endless_event_ends_with_a_502_and_the_loop_stays_responsive(
    setup: tuple[ProxyProcess, str], kind: str
) -> None:
    proc, key = setup
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=proc.url, headers=headers, timeout=60) as http:
        async def endless() -> tuple[int, bytes, float]:
            started = time.monotonic()
            resp = await http.post("/v1/chat/completions", json={
                "model": f"endless-{kind}", "stream": True,
                "messages": [{"role": "user", "content": "hi"}]})
            return resp.status_code, resp.content, time.monotonic() - started

        big = asyncio.create_task(endless())
        latencies = []
        while not big.done():
            started = time.monotonic()
            quick = await http.post("/v1/chat/completions", json={
                "model": "quick", "messages": [{"role": "user", "content": "ping"}]})
            assert quick.status_code == 200
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.02)
        status, body, seconds = await big
    # the event never ended before any content: a JSON 502, not a hang
    assert status == 502, body[:300]
    assert b"larger than" in body
    assert seconds < 20
    assert latencies and max(latencies) < 1.0, latencies
    health = proc.admin.provider_health(f"endless-{kind}")
    assert (health["restarts"], health["crashes"]) == (0, 0)
