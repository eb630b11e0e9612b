"""``/health`` (liveness, touches nothing), ``/readyz`` (dependencies), ``/metrics``."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from ..appkeys import GATEWAY, LIMITS, METRICS, SETTINGS

__all__ = ["setup_routes"]

_OK = orjson.dumps({"status": "ok"})


async def health(request: web.Request) -> web.Response:
    return web.Response(body=_OK, content_type="application/json")


async def readyz(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    checks: dict[str, object] = {}
    try:
        async with asyncio.timeout(2.0):
            checks["database"] = await gateway.store.is_migrated()
    except Exception as exc:
        checks["database"] = False
        checks["database_error"] = type(exc).__name__
    checks["supervisors"] = gateway.root.running() and gateway.version >= 0
    if request.app[SETTINGS].redis_url:
        try:
            async with asyncio.timeout(1.0):
                checks["redis"] = await request.app[LIMITS].limiter.ping()
        except Exception:
            checks["redis"] = False
    ready = all(v for k, v in checks.items() if not k.endswith("_error"))
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return web.Response(status=200 if ready else 503, body=orjson.dumps(body),
                        content_type="application/json")


async def metrics(request: web.Request) -> web.Response:
    body, headers = request.app[METRICS].render(
        request.app[GATEWAY].root, request.headers.getall("Accept", [])
    )
    return web.Response(body=body, headers=headers)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
