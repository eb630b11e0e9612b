"""Every error the gateway can answer with, as one hierarchy.

    ProxyError                       status type                    retry decision
    ├── InvalidRequest               400    invalid_request_error   return to client
    │   ├── UntranslatableRequest    400    (an adapter could not build the upstream request)
    │   ├── ContextLengthExceeded    400    invalid_request_error   move to next chain entry
    │   └── UnsupportedOperation     400    invalid_request_error   move to next chain entry
    ├── AuthenticationFailed         401    invalid_request_error   return to client
    ├── PermissionDenied             403    permission_error        return to client
    ├── NotFound                     404    invalid_request_error   return to client
    ├── Conflict                     409    invalid_request_error   return to client (admin API)
    ├── PayloadTooLarge              413    invalid_request_error   return to client
    ├── RateLimited                  429    rate_limit_error        (client-side limit)
    │   └── BudgetExceeded           429    insufficient_quota      (a budget would overshoot)
    ├── UpstreamError                502    upstream_error          per ``retryable``
    │   ├── UpstreamStatusError      (the provider's status for its own 4xx, else 502)
    │   ├── UpstreamConnectError     502                            retry, then fail over
    │   ├── UntranslatableAnswer     502    (an adapter could not read the answer) fail over
    │   └── StreamBroken             502                            resume or in-band error
    ├── Unavailable                  503    service_unavailable     fail over (circuit open, inbox full)
    │   └── KeysCoolingDown          503                            retry / fail over; not the provider's fault
    ├── UpstreamTimeout              504    timeout                 fail over at once, no retry
    │   └── QueuedTooLong            504                            fail over; not the provider's fault
    ├── ClientTooSlow                499    client_error            the caller stopped reading: end the call
    └── InternalError                500    internal_error          a gateway bug: next chain entry

Foreign exceptions (aiohttp, asyncio) are translated once, in the provider worker.
Converting to JSON happens in exactly one place: :meth:`ProxyError.to_json`.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = [
    "AuthenticationFailed",
    "ClientTooSlow",
    "BudgetExceeded",
    "Conflict",
    "ContextLengthExceeded",
    "InternalError",
    "InvalidRequest",
    "KeysCoolingDown",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "ProxyError",
    "QueuedTooLong",
    "RateLimited",
    "StreamBroken",
    "Unavailable",
    "UntranslatableAnswer",
    "UntranslatableRequest",
    "UnsupportedOperation",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamStatusError",
    "UpstreamTimeout",
]


class ProxyError(Exception):
    status: int = 500
    type: str = "api_error"
    default_code: str | None = None
    #: the same provider may be tried again after a backoff
    retryable: bool = False
    #: the router may try the next entry of the chain
    failover: bool = False
    #: the failure says the provider is unhealthy (counts for its circuit breaker)
    provider_fault: bool = False
    #: short label for metrics and the audit trail (``proxy_fallbacks_total{reason}``)
    reason: str = "error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.retry_after = retry_after
        self.provider = provider
        #: extra response headers (e.g. ``x-ratelimit-*`` on a 429)
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.body())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.message!r})"


class InvalidRequest(ProxyError):
    status = 400
    type = "invalid_request_error"
    reason = "invalid_request"


class UntranslatableRequest(InvalidRequest):
    """An adapter raised while building the upstream request: the request has a shape this
    provider type cannot take. That call alone fails; the provider's health is untouched."""

    reason = "untranslatable_request"


class ContextLengthExceeded(InvalidRequest):
    default_code = "context_length_exceeded"
    failover = True
    reason = "context_length_exceeded"


class UnsupportedOperation(InvalidRequest):
    default_code = "unsupported_operation"
    failover = True
    reason = "unsupported"


class AuthenticationFailed(ProxyError):
    status = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"
    reason = "unauthorized"


class PermissionDenied(ProxyError):
    status = 403
    type = "permission_error"
    default_code = "permission_denied"
    reason = "forbidden"


class NotFound(ProxyError):
    status = 404
    type = "invalid_request_error"
    default_code = "not_found"
    reason = "not_found"


class Conflict(ProxyError):
    """The change clashes with stored state (a unique name, an alias's order_index)."""

    status = 409
    type = "invalid_request_error"
    default_code = "conflict"
    reason = "conflict"


class PayloadTooLarge(ProxyError):
    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"
    reason = "too_large"


class RateLimited(ProxyError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"
    reason = "rate_limited"


class BudgetExceeded(RateLimited):
    """The request's worst-case cost does not fit its key's or tenant's budget."""

    type = "insufficient_quota"
    default_code = "budget_exceeded"
    reason = "budget_exceeded"


class UpstreamError(ProxyError):
    status = 502
    type = "upstream_error"
    default_code = "upstream_error"
    provider_fault = True
    failover = True
    reason = "upstream_error"


class UpstreamStatusError(UpstreamError):
    """The provider answered with an error status.

    Retryable statuses (408, 409, 429, 5xx, 529) are reported to the client as 502 after
    the chain is exhausted (429 keeps 429); a 4xx caused by the request itself keeps the
    provider's status and message and is returned untouched.
    """

    RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

    def __init__(
        self,
        upstream_status: int,
        message: str,
        *,
        type_: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code, retry_after=retry_after, provider=provider)
        self.upstream_status = upstream_status
        self.retryable = upstream_status in self.RETRYABLE or upstream_status >= 500
        self.failover = self.retryable
        self.provider_fault = self.retryable
        if upstream_status == 429:
            self.status, self.type, self.reason = 429, "rate_limit_error", "upstream_rate_limited"
        elif self.retryable:
            self.status, self.reason = 502, f"upstream_{upstream_status}"
        else:
            self.status, self.reason = upstream_status, "upstream_rejected"
            self.type = type_ or "invalid_request_error"
        if code is None:
            self.code = None if not self.retryable else self.default_code


class UpstreamConnectError(UpstreamError):
    retryable = True
    failover = True
    reason = "connect_error"


class UntranslatableAnswer(UpstreamError):
    """An adapter raised while translating the upstream's answer (a body or stream event
    malformed for the provider's API, or one over the size cap): the upstream's fault."""

    default_code = "bad_upstream_response"
    reason = "bad_upstream_answer"


class StreamBroken(UpstreamError):
    """The upstream stream ended badly after it started (cut, stall, error event)."""

    failover = True
    reason = "stream_broken"


class Unavailable(ProxyError):
    status = 503
    type = "service_unavailable"
    default_code = "no_healthy_provider"
    failover = True
    provider_fault = True
    reason = "unavailable"


class KeysCoolingDown(Unavailable):
    """Every key of the provider rests after a 429 (its Retry-After): the router may wait
    or move on, but the provider is not unhealthy, so its circuit is not charged."""

    default_code = "upstream_rate_limited"
    retryable = True
    provider_fault = False
    reason = "keys_cooling_down"


class UpstreamTimeout(ProxyError):
    status = 504
    type = "timeout"
    default_code = "upstream_timeout"
    failover = True
    provider_fault = True
    reason = "timeout"


class QueuedTooLong(UpstreamTimeout):
    """The first-token budget ran out while the call waited for a free worker of a
    saturated provider (or the upstream had only the rest of it): the chain moves on like
    after a slow first token, but time spent queued never counts against the provider."""

    provider_fault = False
    reason = "queued"


class ClientTooSlow(ProxyError):
    """The caller took no reply for ``client_timeout`` seconds: the call ends and its
    upstream request is closed. Never an upstream fault, never resumed elsewhere."""

    status = 499
    type = "client_error"
    default_code = "client_too_slow"
    reason = "client_too_slow"


class InternalError(ProxyError):
    """A bug in the gateway hit while serving this call: that call fails (the request moves
    to the next chain entry, never retried on the same provider); the worker carries on
    and neither the provider's circuit nor its restart intensity is charged for it."""

    status = 500
    type = "internal_error"
    default_code = "internal_error"
    failover = True
    reason = "internal_error"
