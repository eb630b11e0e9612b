"""Errors in Anthropic's shape: ``{"type": "error", "error": {"type", "message"}}``.

Statuses as the Messages API uses them, so the official SDKs' retry logic works: 400
``invalid_request_error``, 401 ``authentication_error``, 403 ``permission_error``, 404
``not_found_error``, 413 ``request_too_large``, 429 ``rate_limit_error``, 500/502/504
``api_error``, and 529 ``overloaded_error`` where the OpenAI side answers 503. An error an
Anthropic upstream gave for the request itself keeps its own type.
"""

from __future__ import annotations

import orjson

from supervisors.errors import ProxyError

__all__ = ["anthropic_error", "error_event"]

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
#: type names of Anthropic's own errors, kept when an upstream gave one
_KNOWN = frozenset(_TYPES.values()) | {"api_error", "timeout_error"}


def anthropic_error(err: ProxyError, request_id: str | None = None) -> tuple[int, bytes]:
    """The status and body for ``err``."""
    status = 529 if err.status == 503 else err.status
    if status >= 500:
        type_ = "overloaded_error" if status == 529 else "api_error"
    elif err.type in _KNOWN and status not in (401, 403, 404, 413, 429):
        type_ = err.type
    else:
        type_ = _TYPES.get(status, "invalid_request_error")
    body: dict[str, object] = {"type": "error", "error": {"type": type_, "message": err.message}}
    if request_id:
        body["request_id"] = request_id
    return status, orjson.dumps(body)


def error_event(err: ProxyError) -> bytes:
    """The in-band ``event: error`` that ends a broken stream."""
    status = 529 if err.status == 503 else err.status
    type_ = "overloaded_error" if status == 529 or err.code == "overloaded_error" else (
        "api_error" if status >= 500 else _TYPES.get(status, "invalid_request_error"))
    body = {"type": "error", "error": {"type": type_, "message": err.message}}
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"
