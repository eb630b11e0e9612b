"""The one request flow behind every ``/v1`` front end.

authenticate → read the body → the ingress prepares it → rate limits → the model's
chain → router → the answer (JSON, or SSE batches as they arrive) → metrics, token
charges and one audit record, on every exit (refused requests included).

The ingress codec (``proxy.api.ingress``) supplies everything that depends on the
front end; nothing here branches on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
from aiohttp import web

from supervisors.errors import ProxyError, StreamBroken

from ..appkeys import AUDITED, CLIENT, INGRESS, REQUEST_ID, SERVICES, STARTED, Services
from ..auth import ClientKey
from ..cache import Source
from ..logs import log_request
from ..router import Trace
from ..routing import Route
from ..spend.cost import format_usd, nanos_to_usd
from ..spend.service import Reservation
from ..store.base import AuditRecord
from .ingress import Ingress, Prepared
from .slow_clients import WATCHED_BODY, WriteWatch, send_whole
from .sse import open_stream
from .validate import read_json

__all__ = ["finish_unserved", "serve"]

_CLIENT_GONE = (ConnectionResetError, BrokenPipeError)


class _Outcome:
    """What the audit record and the access log say about a request, filled as it goes."""

    __slots__ = ("alias", "capture", "client", "cost", "error", "prepared", "reservation",
                 "route", "sent", "size", "status", "stream")

    def __init__(self) -> None:
        self.client: ClientKey | None = None
        self.prepared: Prepared | None = None
        #: the model the client asked for, even when the default route served it
        self.alias: str | None = None
        self.status = 500
        self.error: str | None = None
        self.stream = False
        self.route: Route | None = None
        #: the budget reservation made at admission (None: no budget applies)
        self.reservation: Reservation | None = None
        #: the cost in nano-dollars once known; request body bytes; chunk objects relayed
        self.cost: int | None = None
        self.size = 0
        self.sent = 0
        #: the response bytes, kept for the audit record (AUDIT_STORE_CONTENT), else None
        self.capture: list[bytes] | None = None


def _with(headers: dict[str, str], more: dict[str, str]) -> dict[str, str]:
    return {**headers, **more} if more else headers


def _trace_headers(request_id: str, trace: Trace, extra: dict[str, str]) -> dict[str, str]:
    headers = {**extra, "x-request-id": request_id, "x-proxy-attempts": str(trace.attempts)}
    if trace.provider:
        headers["x-proxy-provider"] = trace.provider
    if trace.cache:
        headers["x-proxy-cache"] = trace.cache
    return headers


async def serve(request: web.Request, ingress: Ingress) -> web.StreamResponse:
    request[INGRESS] = ingress
    svc = request.app[SERVICES]
    trace = Trace()
    out = _Outcome()
    started = time.perf_counter()
    if svc.tracing is not None:
        trace.tracing = svc.tracing.request(request.method, ingress.endpoint, request.headers)
    try:
        gateway = svc.gateway
        out.client = client = ingress.authenticate(gateway.clients, request)
        body = await read_json(request)
        model = body.get("model")
        out.alias = model[:256] if isinstance(model, str) else None
        out.prepared = prepared = ingress.prepare(body)
        out.stream = prepared.stream
        if trace.tracing is not None:
            trace.tracing.request_model(prepared.model)
        if svc.settings.audit_store_content:
            out.capture = []
        limit_headers = await svc.limits.admit(request, client)
        if prepared.load is not None:
            await prepared.load(client)
        if prepared.headers:
            limit_headers = {**limit_headers, **prepared.headers}
        out.route = route = gateway.routes.resolve(prepared.model, client.allowed_models,
                                                   prepared.fallbacks)
        local = ingress.local(prepared, route)
        if local is not None:
            out.status = 200
            return web.Response(body=local, content_type="application/json",
                                headers={**limit_headers, "x-request-id": request[REQUEST_ID]})
        step = await svc.cache.begin(
            request.headers, _cache_scope(client), ingress.endpoint, route.alias,
            prepared.body, prepared.stream, route, trace)
        source = svc.router if step is None else step.source(svc.router)
        try:
            if trace.cache != "hit":  # a cache hit costs nothing against budgets
                out.size = _size(request, prepared)
                out.reservation = await svc.spend.reserve(
                    client, route, prepared.max_output_tokens, out.size, prepared.body.get("n"))
            if prepared.stream:
                return await _stream(request, svc, ingress, prepared, route, trace,
                                     limit_headers, out, source)
            return await _whole(request, svc, ingress, prepared, route, trace, limit_headers,
                                out, source)
        finally:
            if step is not None:
                step.release()
    except ProxyError as err:  # before any byte reached the client: an error response
        out.status, out.error = err.status, err.message
        if trace.attempts:
            err.headers.setdefault("x-proxy-attempts", str(trace.attempts))
        raise
    except web.HTTPException as exc:  # e.g. 413 from reading an oversized body
        out.status, out.error = exc.status, exc.reason
        raise
    except asyncio.CancelledError:
        out.status, out.error = 499, out.error or "client disconnected"
        raise
    finally:
        _finish(request, svc, ingress.endpoint, trace, out, started)


def _cache_scope(client: ClientKey) -> str:
    """Whose answers may be shared: a tenant's keys share, a key without one keeps its own."""
    return f"tenant:{client.tenant}" if client.tenant else f"key:{client.id}"


async def _whole(
    request: web.Request, svc: Services, ingress: Ingress, prepared: Prepared, route: Route,
    trace: Trace, limit_headers: dict[str, str], out: _Outcome, source: Source,
) -> web.StreamResponse:
    request_id = request[REQUEST_ID]
    result = await source.unary(partial(ingress.plan, prepared), route, request_id, trace)
    svc.metrics.first_byte(trace.provider or "none", time.perf_counter() - request[STARTED])
    assert trace.op is not None
    payload = ingress.whole(prepared, result, trace.op)
    if out.capture is not None:
        out.capture.append(payload)
    out.status = 200
    usage = trace.usage if trace.cache != "hit" else None  # a cache hit costs nothing
    out.cost = cost = svc.spend.cost(route, trace.provider, trace.model, usage) or 0
    headers = _trace_headers(request_id, trace, _with(limit_headers, prepared.headers))
    headers["x-proxy-cost-usd"] = format_usd(cost)
    if len(payload) > WATCHED_BODY:  # could block on a client that does not read
        return await send_whole(request, payload, headers, svc.settings.slow_client_timeout)
    headers["Content-Type"] = "application/json"
    response = web.Response(body=payload, headers=headers)
    try:  # sent now, so that the epilogue (metrics, charges, audit record) comes after
        await response.prepare(request)
        await response.write_eof()
    except _CLIENT_GONE:
        out.status, out.error = 499, "client disconnected"
    return response


async def _stream(
    request: web.Request, svc: Services, ingress: Ingress, prepared: Prepared, route: Route,
    trace: Trace, limit_headers: dict[str, str], out: _Outcome, source: Source,
) -> web.StreamResponse:
    request_id = request[REQUEST_ID]
    relay = source.stream(partial(ingress.plan, prepared), route, request_id, trace)
    try:
        first = await anext(relay)
    except ProxyError:
        await relay.aclose()
        raise
    except StopAsyncIteration:
        raise StreamBroken("upstream stream ended without content") from None
    encoder = ingress.encoder(prepared)
    watch: WriteWatch | None = None
    try:
        response = await open_stream(
            request, _trace_headers(request_id, trace, _with(limit_headers, prepared.headers)))
        out.status = 200
        svc.metrics.first_byte(trace.provider or "none", time.perf_counter() - request[STARTED])
        # a client that accepts nothing for SLOW_CLIENT_TIMEOUT is disconnected
        # ... and one that waits on a slow upstream gets the front end's keepalive event
        watch = WriteWatch(request, response, svc.settings.slow_client_timeout,
                           getattr(encoder, "keepalive", None))
        write: Callable[[bytes], Awaitable[None]] = watch.write
        if out.capture is not None:
            write = _capturing(write, out.capture)
        assert trace.op is not None
        await write(encoder.batch(first, trace.op))
        out.sent = len(first)
        del first  # written: an open stream holds no chunk it has sent
        try:
            async for batch in relay:
                await write(encoder.batch(batch, trace.op))
                out.sent += len(batch)
                del batch
            await write(encoder.done(trace))
        except ProxyError as err:
            out.error = err.message
            await write(encoder.error(err))
        await watch.write_eof()
    except _CLIENT_GONE:
        out.status, out.error = 499, "client disconnected"
    finally:
        if watch is not None:
            watch.close()
            if watch.expired:
                out.error = "client disconnected: it read nothing for SLOW_CLIENT_TIMEOUT"
        await relay.aclose()
    return response


def _capturing(
    inner: Callable[[bytes], Awaitable[None]], sink: list[bytes]
) -> Callable[[bytes], Awaitable[None]]:
    async def write(data: bytes) -> None:
        sink.append(data)
        await inner(data)

    return write


def finish_unserved(request: web.Request, endpoint: str, status: int, error: str | None,
                    started: float) -> None:
    """The audit record and access-log line of a ``/v1`` request no ingress served (model
    listings, unknown ``/v1`` URLs, wrong methods): every ``/v1`` request gets one."""
    out = _Outcome()
    out.client = request.get(CLIENT)
    out.status, out.error = status, error
    _finish(request, request.app[SERVICES], endpoint, Trace(), out, started)


def _finish(request: web.Request, svc: Services, endpoint: str, trace: Trace, out: _Outcome,
            started: float) -> None:
    request[AUDITED] = True
    client = out.client
    metrics = svc.metrics
    usage = trace.usage if trace.cache != "hit" else None  # a cache hit costs nothing
    if usage and trace.provider:
        metrics.count_tokens(trace.provider, trace.model or "", usage)
    if trace.resumes:
        metrics.stream_resumes.add(
            {"provider": trace.provider or "none", "outcome": "resumed"}, trace.resumes)
    if usage and client is not None and (client.tpm_limit or client.tenant_tpm_limit):
        svc.limits.charge(client, usage, svc.background)
    for provider, model, extra in trace.extra_usage:  # a hedge's loser that reported usage
        metrics.count_tokens(provider, model, extra)
        if client is not None and (client.tpm_limit or client.tenant_tpm_limit):
            svc.limits.charge(client, extra, svc.background)
    cost = _settle(svc, client, trace, out)
    latency = time.perf_counter() - started
    status, error = out.status, out.error
    if trace.tracing is not None:
        trace.tracing.finish(status=status, error=error, op=trace.op,
                             response_model=trace.model, usage=usage)
    if status >= 500 or svc.settings.log_requests:
        log_request(
            request.method, endpoint, status, latency,
            client_key_id=client.id if client else None,
            tenant=client.tenant if client else None, alias=out.alias,
            provider=trace.provider, upstream_model=trace.model, attempts=trace.attempts,
            error=error,
        )
    if not svc.settings.audit_enabled:
        return
    svc.audit.submit(
        AuditRecord(
            created_at=datetime.now(UTC),
            request_id=request[REQUEST_ID],
            endpoint=endpoint,
            status=status,
            latency_ms=round(latency * 1000.0, 3),
            api_key_id=client.id if client else None,
            tenant=client.tenant if client else None,
            alias=out.alias,
            provider=trace.provider,
            upstream_model=trace.model,
            stream=out.stream,
            prompt_tokens=_int(usage, "prompt_tokens"),
            completion_tokens=_int(usage, "completion_tokens"),
            total_tokens=_int(usage, "total_tokens"),
            attempts=trace.attempts,
            fallback_reasons=list(trace.reasons),
            error=error[:500] if error else None,
            request_body=_captured_request(request, out),
            response_body=_captured_response(out),
            session_id=_session_id(request),
            cost_usd=nanos_to_usd(cost) if trace.provider else None,
        )
    )


def _settle(svc: Services, client: ClientKey | None, trace: Trace, out: _Outcome) -> int:
    """The request's cost (nano-dollars), settled against its budgets: from the reported
    usage when it was answered; nothing when it failed; for a client that left
    mid-stream, the reported usage or an estimate of what it was sent."""
    spend = svc.spend
    cost = out.cost
    if cost is None:
        cost = 0
        if out.status < 400 or (out.status == 499 and out.sent):
            usage = trace.usage if trace.cache != "hit" else None
            reported = spend.cost(out.route, trace.provider, trace.model, usage)
            if reported is not None:
                cost = reported
            elif out.status == 499:
                cost = spend.estimate(out.route, trace.provider, trace.model, out.size,
                                      out.sent)
    metrics = svc.metrics
    if cost and trace.provider:
        metrics.count_cost(trace.provider, trace.model or "", cost)
    for provider, model, extra in trace.extra_usage:  # a hedge's loser: billed upstream too
        more = spend.cost(out.route, provider, model, extra) or 0
        if more:
            metrics.count_cost(provider, model, more)
            cost += more
    if client is not None:
        spend.settle(client, out.reservation, cost)
    return cost


def _size(request: web.Request, prepared: Prepared) -> int:
    """The request's size in bytes (bounds its input tokens): the body as sent, or as
    prepared when the ingress added to it (a stored conversation it continues)."""
    size = len(request._read_bytes or b"")
    if prepared.load is not None:
        size = max(size, len(orjson.dumps(prepared.body, default=str)))
    return size


def _session_id(request: web.Request) -> str | None:
    """The client's session (Claude Code sends ``X-Claude-Code-Session-Id``), bounded."""
    value = request.headers.get("X-Claude-Code-Session-Id")
    return value[:200] if value else None


def _captured_request(request: web.Request, out: _Outcome) -> str | None:
    if out.capture is None or request._read_bytes is None:
        return None
    return request._read_bytes.decode("utf-8", "replace")


def _captured_response(out: _Outcome) -> str | None:
    if out.capture is None:
        return None
    return b"".join(out.capture).decode("utf-8", "replace")


def _int(usage: dict[str, Any] | None, name: str) -> int | None:
    value = usage.get(name) if usage else None
    return value if isinstance(value, int) else None
