"""Building the aiohttp application and its lifecycle.

Long-lived resources open in ``cleanup_ctx`` order and close in reverse, even when one
of them fails: store → upstream HTTP session → rate limiter → budgets and the spend
writer → supervisors and config sync → audit writer. Shutdown (``serve``) stops listening first, lets in-flight requests
and streams finish for ``SHUTDOWN_TIMEOUT`` seconds, then unwinds these contexts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from supervisors.mock import MockTransport
from supervisors.root import RootSupervisor
from supervisors.spec import ProviderSpec
from supervisors.transport import HttpTransport, Transport

from .appkeys import (
    AUDIT,
    BACKGROUND,
    CACHE,
    GATEWAY,
    LIMITS,
    METRICS,
    PAYLOADS,
    RESPONSES,
    ROUTER,
    SERVICES,
    SETTINGS,
    SPEND,
    TRACING,
    Services,
)
from .audit import AuditLog, AuditRetention
from .cache import Backend, MemoryBackend, ResponseCache
from .config import Settings
from .crypto import KeyRing
from .demo import seed_demo
from .header_secrets import seal_plaintext_headers
from .kms import open_keyring
from .limits import Limits
from .metrics import Metrics
from .observer import GatewayObserver
from .payloads import build_payload_store
from .ratelimit import build_rate_limiter
from .responses.state import ResponseState
from .router import Router
from .spend.service import Spend
from .state import Gateway
from .store import apply_migrations, open_store
from .store.base import Store
from .tracing import start_tracing

if TYPE_CHECKING:
    from .circuit_share import SharedCircuits

__all__ = ["build_app"]

log = logging.getLogger("proxy.app")

_STORE = web.AppKey("store", Store)
_KEYRING = web.AppKey("keyring", KeyRing)
_SESSION = web.AppKey("session", aiohttp.ClientSession)


def build_app(settings: Settings) -> web.Application:
    """``settings`` must already carry its secrets (``proxy.secrets.ensure_secrets``)."""
    from .api import admin, health, messages_ingress, openapi, responses, v1
    from .api.middleware import REQUEST_IDS, RequestIds, gateway_middleware
    from .console import mount_console

    app = web.Application(
        middlewares=[gateway_middleware], client_max_size=settings.max_request_bytes
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[BACKGROUND] = set()
    app[REQUEST_IDS] = RequestIds()
    app[TRACING] = None
    health.setup_routes(app)
    v1.setup_routes(app)
    responses.setup_routes(app)
    messages_ingress.setup_routes(app)
    admin.setup_routes(app)
    mount_console(app)
    openapi.setup_routes(app)  # last: it documents the routes added before it
    app.cleanup_ctx.extend(
        [_tracing_ctx, _store_ctx, _responses_ctx, _session_ctx, _limits_ctx, _spend_ctx,
         _cache_ctx, _gateway_ctx, _audit_ctx, _background_ctx, _services_ctx]
    )
    return app


async def _tracing_ctx(app: web.Application) -> AsyncIterator[None]:
    tracing = start_tracing(app[SETTINGS].app_name)
    app[TRACING] = tracing
    try:
        yield
    finally:
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    await asyncio.to_thread(apply_migrations, settings.database_url)
    store = await open_store(settings.database_url)
    app[_STORE] = store
    try:
        assert settings.encryption_key is not None
        app[_KEYRING] = await open_keyring(settings.encryption_key, store)
        if settings.demo:
            await seed_demo(store, app[_KEYRING], settings)
        yield
    finally:
        await store.aclose()


async def _responses_ctx(app: web.Application) -> AsyncIterator[None]:
    """Stored ``/v1/responses`` objects: the write-behind writer and the expiry sweep."""
    state = ResponseState(app[_STORE], ttl_days=app[SETTINGS].responses_ttl_days)
    app[RESPONSES] = state
    tasks = [asyncio.create_task(state.run(), name="responses-writer"),
             asyncio.create_task(state.prune_forever(), name="responses-expiry")]
    try:
        yield
    finally:
        await _cancel(tasks)
        await state.flush()


async def _session_ctx(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(
        limit=0, limit_per_host=0, keepalive_timeout=60.0, ttl_dns_cache=300, force_close=False
    )
    async with aiohttp.ClientSession(
        connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",),
        headers={"User-Agent": "openai-proxy"}, cookie_jar=aiohttp.DummyCookieJar(),
    ) as session:
        app[_SESSION] = session
        yield


async def _cache_ctx(app: web.Application) -> AsyncIterator[None]:
    """The response cache: in Redis when configured (shared by replicas), else in process."""
    settings = app[SETTINGS]
    backend: Backend
    if settings.redis_url:
        from .cache.redis_backend import RedisBackend  # the redis client, only when used
        from .ratelimit.redis_backend import connect_redis

        backend = RedisBackend(connect_redis(settings.redis_url))
    else:
        backend = MemoryBackend(settings.cache_max_bytes)
    app[CACHE] = ResponseCache(backend, app[METRICS].cache_result)
    try:
        yield
    finally:
        await backend.aclose()


async def _limits_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, metrics = app[SETTINGS], app[METRICS]

    def on_fallback(reason: str) -> None:
        metrics.ratelimit_fallback.inc({})

    limiter = build_rate_limiter(settings.redis_url, on_fallback=on_fallback)
    warm_up = getattr(limiter, "warm_up", None)  # Redis: connect and load the scripts
    if warm_up is not None:
        await warm_up()
    app[LIMITS] = Limits(limiter, settings, metrics)
    try:
        yield
    finally:
        await limiter.aclose()


async def _spend_ctx(app: web.Application) -> AsyncIterator[None]:
    """Budgets (shared through Redis when configured) and the spend writer."""
    settings = app[SETTINGS]
    redis = None
    if settings.redis_url:
        from .ratelimit.redis_backend import connect_redis  # the redis client, only when used

        # budgets wait longer than the limiter (2 s, ``Spend``'s redis_wait): money, not a rate
        redis = connect_redis(settings.redis_url, timeout=2.0)
    spend = Spend(app[_STORE], app[METRICS], redis=redis)
    app[SPEND] = spend
    if spend.redis is not None:
        try:
            async with asyncio.timeout(2.0):
                await spend.redis.warm_up()
        except Exception as exc:  # not an outage yet: the first reservation retries
            log.warning("budgets: Redis not reachable at start-up (%s)", type(exc).__name__)
    tasks = [asyncio.create_task(spend.run(), name="spend-writer")]
    try:
        yield
    finally:
        await _cancel(tasks)
        try:
            await spend.close()
        finally:
            if redis is not None:
                await redis.aclose(close_connection_pool=True)


async def _gateway_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, metrics = app[SETTINGS], app[METRICS]
    http = HttpTransport(app[_SESSION])

    def transport_for(spec: ProviderSpec) -> Transport:
        return MockTransport(spec) if spec.type == "mock" else http

    observer = GatewayObserver(metrics)
    root = RootSupervisor(transport_for, observer)
    assert settings.encryption_key is not None and settings.secret_key is not None
    gateway = Gateway(
        app[_STORE],
        app[_KEYRING],
        root,
        metrics,
        secret_key=settings.secret_key,
        admin_api_key=settings.admin_api_key,
        poll_interval=settings.config_poll_interval,
    )
    app[GATEWAY] = gateway
    app[ROUTER] = Router(root, metrics.fallback, metrics.hedge,
                         client_timeout=settings.slow_client_timeout)
    await seal_plaintext_headers(gateway.store, gateway.keyring)
    await gateway.reload()
    # the built-in price table, in a thread, when a configured chain needs it
    app[SPEND].prices.prepare(hop for route in gateway.routes.aliases.values()
                              for hop in route.hops)
    tasks = [asyncio.create_task(gateway.sync_forever(), name="config-sync")]
    shared: SharedCircuits | None = None
    if settings.share_circuit_state and settings.redis_url:
        from .circuit_share import SharedCircuits  # the redis client, only when used

        shared = SharedCircuits(settings.redis_url, root)
        observer.on_circuit_open = shared.publish
        tasks.append(asyncio.create_task(shared.run(), name="circuit-share"))
    try:
        await gateway.store.listen(gateway.notify)
        yield
    finally:
        await _cancel(tasks)
        await root.stop(grace=min(5.0, settings.shutdown_timeout))
        if shared is not None:
            await shared.aclose()


async def _audit_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    payloads = await build_payload_store(settings)
    app[PAYLOADS] = payloads
    audit = AuditLog(
        app[_STORE], app[METRICS], payloads=payloads,
        inline_max_bytes=settings.audit_inline_max_bytes, queue_size=settings.audit_queue_size,
        queue_max_bytes=settings.audit_queue_max_bytes,
    )
    app[AUDIT] = audit
    retention = AuditRetention(
        app[_STORE], payloads, app[METRICS], days=settings.audit_retention_days
    )
    tasks = [asyncio.create_task(audit.run(), name="audit-writer"),
             asyncio.create_task(retention.run(), name="audit-retention")]
    try:
        yield
    finally:
        await _cancel(tasks)
        try:
            await audit.flush()
        finally:
            await payloads.aclose()


async def _background_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    background: set[asyncio.Task[None]] = app[BACKGROUND]
    tasks = list(background)
    if tasks:
        await asyncio.wait(tasks, timeout=5.0)


async def _services_ctx(app: web.Application) -> AsyncIterator[None]:
    """Last: what the request pipeline uses, once every context above has opened."""
    app[SERVICES] = Services.of(app)
    yield


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Stop a context's background tasks and wait until they have."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
