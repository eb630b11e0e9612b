#!/usr/bin/env python
"""The floor: a bare aiohttp + uvloop pass-through, no features (no auth, limits, metrics,
audit, routing, actors). What any aiohttp gateway pays at minimum.

    python scripts/bench_floor.py --port 8100 --upstream http://127.0.0.1:9100/v1

``--server lowlevel`` serves the same handler from aiohttp's low-level server
(``aiohttp.web.Server``: no Application, router or middleware chain), and
``--client-pool`` sets the upstream connector's options, to measure what those
alternatives give against the same load (``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import uvloop
from aiohttp import web

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)
POOL = web.AppKey("pool", str)
_SSE = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


_POOLS: dict[str, dict[str, Any]] = {
    "default": {"limit": 0, "keepalive_timeout": 60.0},
    # what the gateway sets (proxy/app.py)
    "gateway": {"limit": 0, "limit_per_host": 0, "keepalive_timeout": 60.0,
                "ttl_dns_cache": 300, "force_close": False},
}


def _session(pool: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(**_POOLS[pool]))


async def _session_ctx(app: web.Application) -> AsyncIterator[None]:
    async with _session(app[POOL]) as session:
        app[SESSION] = session
        yield


async def chat(request: web.Request) -> web.StreamResponse:
    return await _relay(request, request.app[SESSION], request.app[UPSTREAM])


async def _relay(request: web.BaseRequest, session: aiohttp.ClientSession,
                 upstream_base: str) -> web.StreamResponse:
    body = await request.read()
    headers = {"Content-Type": "application/json",
               "Authorization": request.headers.get("Authorization", "")}
    url = upstream_base + "/chat/completions"
    async with session.post(url, data=body, headers=headers) as upstream:
        if upstream.content_type != "text/event-stream":
            return web.Response(body=await upstream.read(), status=upstream.status,
                                content_type=upstream.content_type)
        response = web.StreamResponse(status=upstream.status, headers=_SSE)
        await response.prepare(request)
        async for data in upstream.content.iter_any():
            await response.write(data)
        await response.write_eof()
        return response


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL, with /v1")
    parser.add_argument("--server", choices=("app", "lowlevel"), default="app")
    parser.add_argument("--client-pool", choices=tuple(_POOLS), default="default")
    args = parser.parse_args(argv)
    if args.server == "lowlevel":
        return _lowlevel(args.host, args.port, args.upstream.rstrip("/"), args.client_pool)
    app = web.Application()
    app[UPSTREAM] = args.upstream.rstrip("/")
    app[POOL] = args.client_pool
    app.cleanup_ctx.append(_session_ctx)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", health)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None,
                loop=uvloop.new_event_loop(), backlog=4096)
    return 0


def _lowlevel(host: str, port: int, upstream: str, pool: str) -> int:
    """The same relay on ``aiohttp.web.Server``: one handler, no Application."""

    async def run() -> None:
        async with _session(pool) as session:
            async def handle(request: web.BaseRequest) -> web.StreamResponse:
                if request.path == "/health":
                    return web.Response(text="ok")
                if request.method == "POST" and request.path == "/v1/chat/completions":
                    return await _relay(request, session, upstream)
                return web.Response(status=404)

            server = web.Server(handle, access_log=None)
            loop = asyncio.get_running_loop()
            srv = await loop.create_server(server, host, port, backlog=4096)
            try:
                await asyncio.Event().wait()
            finally:
                srv.close()

    uvloop.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
