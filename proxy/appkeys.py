"""Typed application state (``web.AppKey``); no module-level mutable state anywhere."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from .api.ingress import Ingress
from .audit import AuditLog
from .auth import ClientKey
from .cache import ResponseCache
from .config import Settings
from .limits import Limits
from .metrics import Metrics
from .payloads import PayloadStore
from .responses.state import ResponseState
from .router import Router
from .spend.service import Spend
from .state import Gateway
from .tracing import Tracing

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
GATEWAY = web.AppKey("gateway", Gateway)
ROUTER = web.AppKey("router", Router)
#: the process's tracer, None when tracing is off (``proxy.tracing``)
TRACING: web.AppKey[Tracing | None] = web.AppKey("tracing")
LIMITS = web.AppKey("limits", Limits)
AUDIT = web.AppKey("audit", AuditLog)
PAYLOADS = web.AppKey("payloads", PayloadStore)
RESPONSES = web.AppKey("responses", ResponseState)
CACHE = web.AppKey("cache", ResponseCache)
SPEND = web.AppKey("spend", Spend)
#: per request: its id and when it started (perf_counter)
REQUEST_ID = web.RequestKey("request_id", str)
STARTED = web.RequestKey("started", float)
#: the front end serving this request: the middleware answers errors in its shape
INGRESS = web.RequestKey("ingress", Ingress)
#: the client key, once a handler outside the pipeline authenticated it (for the audit)
CLIENT = web.RequestKey("client", ClientKey)
#: set once the request's audit record is submitted (the pipeline's own ``_finish``)
AUDITED = web.RequestKey("audited", bool)
#: short-lived tasks started by handlers (token charging); awaited on shutdown
BACKGROUND: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("background", set)


@dataclass(frozen=True, slots=True)
class Services:
    """What every ``/v1`` request uses, gathered once the application has started (one
    lookup per request instead of one per use)."""

    settings: Settings
    metrics: Metrics
    gateway: Gateway
    router: Router
    limits: Limits
    cache: ResponseCache
    spend: Spend
    audit: AuditLog
    tracing: Tracing | None
    background: set[asyncio.Task[None]]

    @classmethod
    def of(cls, app: web.Application) -> Services:
        return cls(app[SETTINGS], app[METRICS], app[GATEWAY], app[ROUTER], app[LIMITS],
                   app[CACHE], app[SPEND], app[AUDIT], app[TRACING], app[BACKGROUND])


SERVICES = web.AppKey("services", Services)
