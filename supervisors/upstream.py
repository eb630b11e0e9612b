"""Opening the upstream request of a call: which key, and what an error says about it.

The next usable key of the provider's pool is tried; an answer about the credential
(401, a 403 that says the key is invalid: :mod:`supervisors.credentials`) takes that key
out of rotation and tries the next; a 429 rests the key for its ``Retry-After``. Any other
error is this call's answer. Every change of a key's state is logged once, with the
request id of the call that caused it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .credentials import about_credential
from .errors import (
    KeysCoolingDown,
    ProxyError,
    Unavailable,
    UntranslatableAnswer,
    UntranslatableRequest,
    UpstreamError,
)
from .masking import scrub_error
from .messages import Call
from .transport import UpstreamResponse

if TYPE_CHECKING:
    from .keypool import PoolKey
    from .provider import ProviderSupervisor

__all__ = ["RECHECK_EVERY", "answer_fault", "open_upstream", "request_fault"]

log = logging.getLogger("supervisors.keys")

_ERROR_BODY_LIMIT = 64 * 1024
#: seconds between periodic re-checks of a key taken out after a 401/403, while others work
RECHECK_EVERY = 30.0
_KEY_WAIT = 0.25


async def open_upstream(sup: ProviderSupervisor, call: Call) -> UpstreamResponse:
    """Send the request with the next usable key; key faults move on to the next key."""
    pool, adapter, spec = sup.pool, sup.adapter, sup.spec
    tried: set[int | str] = set()
    last_key_error: ProxyError | None = None
    waited = False
    while True:
        key: PoolKey | None = None
        if pool.total:
            key = _recheck(sup, tried) or pool.acquire(exclude=tried)
            if key is None:
                key = pool.recheck_candidate()
            if key is None and not waited:
                # a key that comes back within moments (the router waited out its
                # Retry-After on a slightly different clock) is worth the short wait
                soon = pool.next_available_in()
                if soon is not None and soon <= _KEY_WAIT:
                    waited = True
                    await asyncio.sleep(soon + 0.002)
                    continue
            if key is None:
                raise _no_key(sup, last_key_error)
            tried.add(key.id)
        try:
            request = adapter.build_request(
                call.op, call.body, stream=call.stream, spec=spec, key=key.secret if key else None
            )
        except ProxyError:
            raise
        except Exception as exc:  # e.g. a shape the adapter trips on, JSON too deep to encode
            raise request_fault(exc) from exc
        request.headers["x-request-id"] = call.request_id
        if call.headers:
            request.headers.update(call.headers)
        resp = await sup.transport.send(
            request,
            connect_timeout=spec.config.connect_timeout,
            # a whole answer is bounded by the call's budget; only streams need idle checks
            idle_timeout=spec.config.idle_timeout if call.stream else None,
        )
        if resp.status < 400:
            if key is not None and (key.last_error is not None or not key.healthy):
                if pool.mark_success(key):
                    _key_log(sup, key, call, "upstream key back in rotation")
            return resp
        try:
            raw = await resp.read(_ERROR_BODY_LIMIT)
        finally:
            resp.close()
        try:
            err = adapter.parse_error(resp.status, raw, resp.headers, spec.name)
        except Exception as exc:
            raise answer_fault(exc) from exc
        scrub_error(err, sup.secrets)  # before the key pool, logs or anyone else see it
        if resp.status in (401, 403):
            if not about_credential(resp.status, err):
                # about the model or the request (a project without access to a model):
                # this call's answer; the next chain entry may serve it; no key is blamed
                err.failover, err.retryable, err.provider_fault = True, False, False
                raise err
            if key is None:  # a keyless provider refusing us: its set-up, not the request
                raise UpstreamError(
                    f"provider {sup.name!r} refused the proxy (HTTP {resp.status}): "
                    f"{err.message[:200]}", provider=sup.name)
            reason = f"HTTP {resp.status}: {err.message[:200]}"
            if pool.mark_unauthorized(key, reason):
                _key_log(sup, key, call, "upstream key taken out of rotation",
                         level=logging.WARNING, error=key.last_error)
            last_key_error = err
            continue
        if key is not None and resp.status == 429:
            # with Retry-After the key rests that long (the router's retry waits as long);
            # without it, a lone key stays usable so the router's backoff can retry it
            if err.retry_after is not None or pool.total > 1:
                if pool.cool_down(key, err.retry_after, "HTTP 429"):
                    _key_log(sup, key, call, "upstream key cooling down after HTTP 429",
                             cooling_for=round(key.cooldown_until - pool.now(), 3))
            last_key_error = err
            if pool.total > 1:
                continue
        raise err


def _no_key(sup: ProviderSupervisor, last_key_error: ProxyError | None) -> ProxyError:
    """Why this call has no key left to try."""
    if last_key_error is not None and last_key_error.retryable:
        return last_key_error  # this call's own 429: the upstream's answer
    pool = sup.pool
    soon = pool.next_available_in()
    if soon is not None:
        # the keys rest after a 429: waiting helps, and the provider is not unhealthy
        return KeysCoolingDown(
            f"every upstream key of provider {sup.name!r} is cooling down after HTTP 429",
            retry_after=soon, provider=sup.name)
    detail = f": {last_key_error.message}" if last_key_error else ""
    return Unavailable(f"no usable upstream key for provider {sup.name!r}{detail}",
                       provider=sup.name)


def _key_log(sup: ProviderSupervisor, key: PoolKey, call: Call, message: str,
             level: int = logging.INFO, **fields: object) -> None:
    log.log(level, message, extra={"provider": sup.name, "key_id": key.id,
                                   "key_name": key.name, "key_masked": key.masked,
                                   "request_id": call.request_id, **fields})


def _recheck(sup: ProviderSupervisor, tried: set[int | str]) -> PoolKey | None:
    """Every ``RECHECK_EVERY`` seconds one request tries a key that failed with 401/403,
    so a key fixed upstream comes back without an admin rotating it."""
    now = asyncio.get_running_loop().time()
    if tried or now < sup.next_recheck:
        return None
    sup.next_recheck = now + RECHECK_EVERY
    return sup.pool.recheck_candidate()


def request_fault(exc: Exception) -> UntranslatableRequest:
    return UntranslatableRequest(
        f"this request cannot be translated for the provider: {_describe(exc)}")


def answer_fault(exc: Exception) -> UntranslatableAnswer:
    return UntranslatableAnswer(f"the upstream's answer could not be translated: {_describe(exc)}")


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
