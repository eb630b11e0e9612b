"""Typed application state (``web.AppKey``); no module-level mutable state anywhere."""

from __future__ import annotations

import asyncio

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
#: per request: its id, when it started (perf_counter), and the captured response bytes
REQUEST_ID = web.RequestKey("request_id", str)
STARTED = web.RequestKey("started", float)
CAPTURE = web.RequestKey("capture", list[bytes])
#: the front end serving this request: the middleware answers errors in its shape
INGRESS = web.RequestKey("ingress", Ingress)
#: the client key, once a handler outside the pipeline authenticated it (for the audit)
CLIENT = web.RequestKey("client", ClientKey)
#: set once the request's audit record is submitted (the pipeline's own ``_finish``)
AUDITED = web.RequestKey("audited", bool)
#: short-lived tasks started by handlers (token charging); awaited on shutdown
BACKGROUND: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("background", set)
