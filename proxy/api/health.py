"""``/health`` (liveness, touches nothing), ``/readyz`` (can this replica serve), ``/metrics``."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from ..appkeys import GATEWAY, LIMITS, METRICS, PAYLOADS

__all__ = ["setup_routes"]

_OK = orjson.dumps({"status": "ok"})


async def health(request: web.Request) -> web.Response:
    return web.Response(body=_OK, content_type="application/json")


async def readyz(request: web.Request) -> web.Response:
    """Ready when this replica can serve: the database is migrated and the configuration
    loaded, the supervisors run, and the stored provider secrets are decryptable (some of
    them; a provider whose are not is reported by ``/admin/health``). Redis and the
    payload store are not checked: limits fail open and audit bodies are optional, so
    their outage degrades ``/admin/health`` but never takes every replica out at once."""
    gateway = request.app[GATEWAY]
    checks: dict[str, object] = {}
    try:
        async with asyncio.timeout(2.0):
            checks["database"] = await gateway.store.is_migrated()
    except Exception as exc:
        checks["database"] = False
        checks["database_error"] = type(exc).__name__
    checks["config"] = gateway.version >= 0
    checks["supervisors"] = gateway.root.running()
    checks["secrets"] = not gateway.secrets_unreadable
    if gateway.secrets_unreadable:
        checks["secrets_error"] = "no stored provider secret can be decrypted with ENCRYPTION_KEY"
    ready = all(v for k, v in checks.items() if not k.endswith("_error"))
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return web.Response(status=200 if ready else 503, body=orjson.dumps(body),
                        content_type="application/json")


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    up = app[METRICS].dependency_up
    # only the Redis limiter (with its in-process fallback) has ``degraded``; asked by
    # attribute so that a gateway without Redis never imports the redis client
    degraded = getattr(app[LIMITS].limiter, "degraded", None)
    if degraded is not None:
        up.set({"dependency": "redis"}, 0 if degraded else 1)
    payloads = app.get(PAYLOADS)
    if payloads is not None:
        up.set({"dependency": "payload_store"}, 1 if payloads.status()["ok"] else 0)
    body, headers = request.app[METRICS].render(
        request.app[GATEWAY].root, request.headers.getall("Accept", [])
    )
    return web.Response(body=body, headers=headers)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
