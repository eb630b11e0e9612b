#!/usr/bin/env python
"""The floor: a bare aiohttp + uvloop pass-through, no features (no auth, limits, metrics,
audit, routing, actors). What any aiohttp gateway pays at minimum.

    python scripts/bench_floor.py --port 8100 --upstream http://127.0.0.1:9100/v1
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator

import aiohttp
import uvloop
from aiohttp import web

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)
_SSE = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


async def _session_ctx(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60.0)
    async with aiohttp.ClientSession(connector=connector) as session:
        app[SESSION] = session
        yield


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    headers = {"Content-Type": "application/json",
               "Authorization": request.headers.get("Authorization", "")}
    url = request.app[UPSTREAM] + "/chat/completions"
    async with request.app[SESSION].post(url, data=body, headers=headers) as upstream:
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
    args = parser.parse_args(argv)
    app = web.Application()
    app[UPSTREAM] = args.upstream.rstrip("/")
    app.cleanup_ctx.append(_session_ctx)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", health)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None,
                loop=uvloop.new_event_loop(), backlog=4096)
    return 0


if __name__ == "__main__":
    sys.exit(main())
