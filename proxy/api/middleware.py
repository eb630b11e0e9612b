"""The one middleware: request id, OpenAI-shaped errors, request metrics and log context.

Every error leaves the server here, converted by ``ProxyError.to_json``; anything
unexpected becomes a 500 in the same shape, logged with its traceback, never shown.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from supervisors.errors import InvalidRequest, NotFound, PayloadTooLarge, ProxyError

from ..appkeys import AUDITED, INGRESS, METRICS, REQUEST_ID, STARTED
from ..logs import request_id_var
from .pipeline import finish_unserved

__all__ = ["REQUEST_IDS", "RequestIds", "error_response", "gateway_middleware"]

log = logging.getLogger("proxy.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: probes and scrapes: not API traffic, so not in proxy_requests_total or the duration
#: histogram (else "is there real traffic" guards in alerts are met by probes alone)
_UNMETERED = frozenset({"/health", "/readyz", "/metrics"})


def error_response(err: ProxyError, request_id: str) -> web.Response:
    headers = {**err.headers, "x-request-id": request_id}
    if err.retry_after is not None or err.status in (429, 503):
        headers["Retry-After"] = str(max(1, math.ceil(err.retry_after or 1)))
    if err.provider:
        headers["x-proxy-provider"] = err.provider
    return web.Response(
        status=err.status, body=err.to_json(), content_type="application/json", headers=headers
    )


class RequestIds:
    """Unique request ids without a uuid4 per request: a random per-process prefix and a
    counter (``<16 hex>-<n hex>``), unique across replicas and restarts."""

    __slots__ = ("_next", "_prefix")

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8) + "-"
        self._next = itertools.count(1).__next__

    def new(self) -> str:
        return f"{self._prefix}{self._next():x}"


REQUEST_IDS = web.AppKey("request_ids", RequestIds)


def _request_id(request: web.Request) -> str:
    given = request.headers.get("x-request-id")
    if given and len(given) <= 128 and given.isascii() and given.isprintable():
        return given
    return request.app[REQUEST_IDS].new()


def _from_http_exception(exc: web.HTTPException) -> ProxyError:
    if exc.status == 413:
        return PayloadTooLarge("Request body is too large.")
    if exc.status == 404:
        return NotFound("Unknown URL: no such route.", code="unknown_url")
    if exc.status == 405:
        err = InvalidRequest("Method not allowed for this URL.", code="method_not_allowed")
        err.status = 405
        if "Allow" in exc.headers:  # RFC 9110: a 405 names the methods the URL takes
            err.headers["Allow"] = exc.headers["Allow"]
        return err
    err = InvalidRequest(exc.reason or "Bad request.")
    err.status = exc.status if 400 <= exc.status < 500 else 400
    return err


def _shape(request: web.Request) -> Callable[[ProxyError, str], web.Response]:
    """The error shape of the front end serving the request (OpenAI's by default)."""
    ingress = request.get(INGRESS)
    return ingress.error_response if ingress is not None else error_response


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = _request_id(request)
    request[REQUEST_ID] = request_id
    request[STARTED] = started
    token = request_id_var.set(request_id)
    metrics = request.app[METRICS]
    route = request.match_info.route.resource
    endpoint = route.canonical if route is not None else "unmatched"
    status = 500
    error: str | None = None
    try:
        try:
            response = await handler(request)
        except ProxyError as err:
            error = err.message
            response = _shape(request)(err, request_id)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            translated = _from_http_exception(exc)
            error = translated.message
            response = _shape(request)(translated, request_id)
        except asyncio.CancelledError:
            status, error = 499, "client disconnected"
            raise
        except Exception:
            log.exception("unhandled error", extra={"path": request.path})
            error = "internal server error"
            response = _shape(request)(ProxyError("Internal server error."), request_id)
        status = response.status
        if not response.prepared:
            response.headers["x-request-id"] = request_id
        return response
    finally:
        if request.path.startswith("/v1/") and AUDITED not in request:
            finish_unserved(request, endpoint, status, error, started)
        request_id_var.reset(token)
        if endpoint not in _UNMETERED:
            metrics.request_done(request.method, endpoint, status,
                                 time.perf_counter() - started)
