"""Redis first, the in-process limiter when Redis is unreachable.

No exception reaches the caller: a failed call is answered by the in-process limiter
(fail-open, the default). While Redis is up, a call waits up to ``wait`` seconds for
Redis's answer. That deadline is long on purpose: a call abandoned on our side may still
have run in Redis, and answering it in process admits it a second time, against a limit
each replica counts on its own. A busy event loop (our own CPU, not Redis) easily makes
an answer a few hundred milliseconds late; such an answer must still decide.
Redis is declared down — in-process limits for everyone, one log line, ``on_fallback``
called once with the error's class name — on a connection failure, or after
``DOWN_AFTER`` consecutive calls without an answer within ``wait``. After ``backoff``
seconds one call probes Redis again under the short ``timeout`` (the others keep using
the fallback, so a dead Redis costs at most one ``timeout`` per backoff period); when the
probe succeeds, shared limits resume and one recovery line is logged. Counts made
in-process during an outage are not copied to Redis. With ``fail_open=False`` requests
are refused instead, with scope ``"unavailable"`` and ``retry_after`` equal to the backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .base import Decision, Limit
from .memory import MemoryRateLimiter
from .redis_backend import RedisRateLimiter

__all__ = ["UNAVAILABLE_SCOPE", "FailoverRateLimiter"]

log = logging.getLogger(__name__)

_FAILURES = (RedisError, OSError, TimeoutError)
UNAVAILABLE_SCOPE = "unavailable"
_TIMEOUTS = (TimeoutError, RedisTimeoutError)
#: consecutive timeouts that declare Redis down (a connection failure does at once)
DOWN_AFTER = 3


class FailoverRateLimiter:
    def __init__(
        self,
        primary: RedisRateLimiter,
        fallback: MemoryRateLimiter,
        *,
        on_fallback: Callable[[str], None] | None = None,
        timeout: float = 0.25,
        wait: float = 1.0,
        backoff: float = 1.0,
        fail_open: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._on_fallback = on_fallback
        self._timeout = timeout
        self._wait = max(wait, timeout)
        self._backoff = backoff
        self._fail_open = fail_open
        self._clock = clock
        self._down = False
        self._retry_at = 0.0
        self._probing = False
        self._timeouts = 0

    @property
    def degraded(self) -> bool:
        """True while the in-process fallback is in use (for readiness and metrics)."""
        return self._down

    async def warm_up(self) -> None:
        """Connect and load the scripts at start-up; a failure here is not an outage yet."""
        try:
            async with asyncio.timeout(max(self._timeout, 2.0)):
                await self._primary.warm_up()
        except _FAILURES as exc:
            log.warning("rate limiter: Redis not reachable at start-up (%s)", type(exc).__name__)

    async def acquire(self, limits: Sequence[Limit], tokens: Limit | None = None) -> Decision:
        if self._use_primary():
            probe = self._down
            try:
                async with asyncio.timeout(self._timeout if probe else self._wait):
                    decision = await self._primary.acquire(limits, tokens)
            except _FAILURES as exc:
                self._failed(exc)
            else:
                self._succeeded(probe)
                return decision
            finally:
                if probe:
                    self._probing = False
        if not self._fail_open:
            return Decision(False, UNAVAILABLE_SCOPE, self._backoff, 0, 0, 0.0)
        return self._fallback.acquire_now(limits, tokens)

    async def charge_tokens(self, tokens: Limit, amount: int) -> None:
        if self._use_primary():
            probe = self._down
            try:
                async with asyncio.timeout(self._timeout if probe else self._wait):
                    await self._primary.charge_tokens(tokens, amount)
            except _FAILURES as exc:
                self._failed(exc)
            else:
                self._succeeded(probe)
                return
            finally:
                if probe:
                    self._probing = False
        self._fallback.charge_tokens_now(tokens, amount)

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._primary.ping()
        except _FAILURES:
            return False

    async def aclose(self) -> None:
        try:
            await self._primary.aclose()
        finally:
            await self._fallback.aclose()

    # -- state ---------------------------------------------------------------------

    def _use_primary(self) -> bool:
        if not self._down:
            return True
        if self._probing or self._clock() < self._retry_at:
            return False
        self._probing = True
        return True

    def _failed(self, exc: BaseException) -> None:
        if self._down:
            self._retry_at = self._clock() + self._backoff
            return
        self._timeouts = self._timeouts + 1 if isinstance(exc, _TIMEOUTS) else DOWN_AFTER
        if self._timeouts < DOWN_AFTER:
            return  # no answer within ``wait``: this call used in-process limits
        self._retry_at = self._clock() + self._backoff
        self._down = True
        reason = type(exc).__name__
        log.warning(
            "rate limiter: Redis unavailable (%s: %s); using in-process limits, "
            "retrying every %.1fs", reason, exc, self._backoff,
        )
        if self._on_fallback is not None:
            try:
                self._on_fallback(reason)
            except Exception:
                log.exception("rate limiter: on_fallback callback failed")

    def _succeeded(self, probe: bool) -> None:
        self._timeouts = 0
        # only the probe may end an outage: a call that started before it does not
        if self._down and probe:
            self._down = False
            log.warning("rate limiter: Redis is back; shared limits resumed")
