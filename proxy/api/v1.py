"""The OpenAI-compatible endpoints: ``/v1/chat/completions``, ``/v1/completions``,
``/v1/embeddings``, ``/v1/models``.

Flow: authenticate → read and check the body → rate limits → resolve the model's
chain → router → write the answer (JSON, or SSE batches as they arrive).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from supervisors.errors import NotFound, ProxyError, StreamBroken
from supervisors.messages import Op

from ..appkeys import (
    AUDIT,
    BACKGROUND,
    CAPTURE,
    GATEWAY,
    LIMITS,
    METRICS,
    REQUEST_ID,
    ROUTER,
    SETTINGS,
    STARTED,
)
from ..auth import ClientKey
from ..logs import log_request
from ..router import Trace
from ..store.base import AuditRecord
from .sse import DONE, encode_batch, encode_error, open_stream
from .validate import read_json, validate_chat, validate_completions, validate_embeddings

__all__ = ["setup_routes"]

_CLIENT_GONE = (ConnectionResetError, BrokenPipeError)


def _trace_headers(request_id: str, trace: Trace, extra: dict[str, str]) -> dict[str, str]:
    headers = {**extra, "x-request-id": request_id, "x-proxy-attempts": str(trace.attempts)}
    if trace.provider:
        headers["x-proxy-provider"] = trace.provider
    return headers


async def _serve(request: web.Request, op: Op, validate: Callable[[dict[str, Any]], None],
                 endpoint: str) -> web.StreamResponse:
    app = request.app
    gateway = app[GATEWAY]
    client = gateway.clients.authenticate(request.headers.get("Authorization"))
    body = await read_json(request)
    validate(body)
    if app[SETTINGS].audit_store_content:
        request[CAPTURE] = []
    limit_headers = await app[LIMITS].admit(request, client)
    route = gateway.routes.resolve(body["model"], client.allowed_models, body.pop("fallbacks", None))
    request_id: str = request[REQUEST_ID]
    trace = Trace()
    started = time.perf_counter()
    status = 500
    error: str | None = None
    try:
        if op != "embeddings" and body.get("stream") is True:
            response, status, error = await _stream(request, op, body, route, trace, limit_headers)
            return response
        result = await app[ROUTER].unary(op, body, route, request_id, trace)
        status = 200
        app[METRICS].first_byte(trace.provider or "none",
                                time.perf_counter() - request[STARTED])
        payload = result.raw if result.raw is not None else orjson.dumps(result.obj)
        if CAPTURE in request:
            request[CAPTURE].append(payload)
        return web.Response(
            body=payload,
            content_type="application/json",
            headers=_trace_headers(request_id, trace, limit_headers),
        )
    except ProxyError as err:  # before any byte reached the client: a JSON error
        status, error = err.status, err.message
        if trace.attempts:
            err.headers.setdefault("x-proxy-attempts", str(trace.attempts))
        raise
    except asyncio.CancelledError:
        status, error = 499, "client disconnected"
        raise
    finally:
        _finish(request, client, route.alias, endpoint, op, body, trace, status, error, started)


async def _stream(
    request: web.Request, op: Op, body: dict[str, Any], route: Any, trace: Trace,
    limit_headers: dict[str, str],
) -> tuple[web.StreamResponse, int, str | None]:
    app = request.app
    request_id: str = request[REQUEST_ID]
    relay = app[ROUTER].stream(op, body, route, request_id, trace)
    try:
        first = await anext(relay)
    except ProxyError:
        await relay.aclose()
        raise
    except StopAsyncIteration:
        raise StreamBroken("upstream stream ended without content") from None
    error: str | None = None
    try:
        response = await open_stream(request, _trace_headers(request_id, trace, limit_headers))
        app[METRICS].first_byte(trace.provider or "none",
                                time.perf_counter() - request[STARTED])
        write: Callable[[bytes], Awaitable[None]] = response.write
        if CAPTURE in request:
            write = _capturing(response, request[CAPTURE])
        await write(encode_batch(first))
        try:
            async for batch in relay:
                await write(encode_batch(batch))
            await write(DONE)
        except ProxyError as err:
            error = err.message
            await write(encode_error(err))
        await response.write_eof()
    except _CLIENT_GONE:
        error = "client disconnected"
        return response, 499, error
    finally:
        await relay.aclose()
    return response, 200, error


def _capturing(
    response: web.StreamResponse, sink: list[bytes]
) -> Callable[[bytes], Awaitable[None]]:
    async def write(data: bytes) -> None:
        sink.append(data)
        await response.write(data)

    return write


def _finish(
    request: web.Request, client: ClientKey, alias: str, endpoint: str, op: Op,
    body: dict[str, Any], trace: Trace, status: int, error: str | None, started: float,
) -> None:
    app = request.app
    metrics = app[METRICS]
    usage = trace.usage
    if usage and trace.provider:
        metrics.count_tokens(trace.provider, trace.model or "", usage)
    if trace.resumes:
        metrics.stream_resumes.add({"provider": trace.provider or "none", "outcome": "resumed"},
                                   trace.resumes)
    if usage and client.tpm_limit:
        app[LIMITS].charge(client, usage, app[BACKGROUND])
    latency = time.perf_counter() - started
    if status >= 500 or app[SETTINGS].log_requests:
        log_request(
            request.method, endpoint, status, latency, client_key_id=client.id,
            tenant=client.tenant, alias=alias, provider=trace.provider,
            upstream_model=trace.model, attempts=trace.attempts, error=error,
        )
    if not app[SETTINGS].audit_enabled:
        return
    app[AUDIT].submit(
        AuditRecord(
            created_at=datetime.now(UTC),
            request_id=request[REQUEST_ID],
            endpoint=endpoint,
            status=status,
            latency_ms=round(latency * 1000.0, 3),
            api_key_id=client.id,
            tenant=client.tenant,
            alias=alias,
            provider=trace.provider,
            upstream_model=trace.model,
            stream=bool(body.get("stream")) and op != "embeddings",
            prompt_tokens=_int(usage, "prompt_tokens"),
            completion_tokens=_int(usage, "completion_tokens"),
            total_tokens=_int(usage, "total_tokens"),
            attempts=trace.attempts,
            fallback_reasons=list(trace.reasons),
            error=error[:500] if error else None,
            request_body=_captured_request(request),
            response_body=_captured_response(request),
        )
    )


def _captured_request(request: web.Request) -> str | None:
    if CAPTURE not in request or request._read_bytes is None:
        return None
    return request._read_bytes.decode("utf-8", "replace")


def _captured_response(request: web.Request) -> str | None:
    if CAPTURE not in request:
        return None
    captured: list[bytes] = request[CAPTURE]
    return b"".join(captured).decode("utf-8", "replace")


def _int(usage: dict[str, Any] | None, name: str) -> int | None:
    value = usage.get(name) if usage else None
    return value if isinstance(value, int) else None


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "chat", validate_chat, "/v1/chat/completions")


async def completions(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "completions", validate_completions, "/v1/completions")


async def embeddings(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "embeddings", validate_embeddings, "/v1/embeddings")


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "openai-proxy"}


async def list_models(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    client = gateway.clients.authenticate(request.headers.get("Authorization"))
    data = [_model_object(n) for n in gateway.routes.model_ids(client.allowed_models)]
    return web.Response(body=orjson.dumps({"object": "list", "data": data}),
                        content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    client = gateway.clients.authenticate(request.headers.get("Authorization"))
    name = request.match_info["model"]
    if name not in gateway.routes.model_ids(client.allowed_models):
        raise NotFound(f"The model '{name}' does not exist", param="model",
                       code="model_not_found")
    return web.Response(body=orjson.dumps(_model_object(name)), content_type="application/json")


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model:.+}", get_model)
