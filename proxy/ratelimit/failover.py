"""Redis first, the in-process limiter when Redis is unreachable.

No exception reaches the caller: a failed call is answered by the in-process limiter
(fail-open, the default). When a call waits for Redis, when Redis counts as down and how
it is probed again is ``outage.RedisOutage``'s rule: while Redis is up a call waits up to
``wait`` seconds (a call abandoned on our side may still have run in Redis, and answering
it in process admits it a second time, against a limit each replica counts on its own);
``DOWN_AFTER`` timeouts in a row or a connection failure declare it down, then one call
per ``backoff`` probes it under the short ``timeout``. Declaring Redis down logs one line
and calls ``on_fallback`` once with the error's class name; the probe's success resumes
shared limits and logs one recovery line. Counts made in-process during an outage are
not copied to Redis. With ``fail_open=False`` requests are refused instead, with scope
``"unavailable"`` and ``retry_after`` equal to the backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from .base import Decision, Limit
from .memory import MemoryRateLimiter
from .outage import DOWN_AFTER, REDIS_FAILURES, RedisOutage
from .redis_backend import RedisRateLimiter

__all__ = ["DOWN_AFTER", "UNAVAILABLE_SCOPE", "FailoverRateLimiter"]

log = logging.getLogger(__name__)

UNAVAILABLE_SCOPE = "unavailable"


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
        self._outage = RedisOutage(timeout=timeout, wait=wait, backoff=backoff, clock=clock)
        self._backoff = backoff
        self._fail_open = fail_open

    @property
    def degraded(self) -> bool:
        """True while the in-process fallback is in use (for readiness and metrics)."""
        return self._outage.down

    async def warm_up(self) -> None:
        """Connect and load the scripts at start-up; a failure here is not an outage yet."""
        try:
            async with asyncio.timeout(max(self._outage.timeout, 2.0)):
                await self._primary.warm_up()
        except REDIS_FAILURES as exc:
            log.warning("rate limiter: Redis not reachable at start-up (%s)", type(exc).__name__)

    async def acquire(self, limits: Sequence[Limit], tokens: Limit | None = None) -> Decision:
        deadline = self._outage.deadline()
        if deadline is not None:
            probe = self._outage.down
            try:
                async with asyncio.timeout(deadline):
                    decision = await self._primary.acquire(limits, tokens)
            except REDIS_FAILURES as exc:
                self._failed(exc, probe)
            except BaseException:
                self._outage.abandoned(probe)
                raise
            else:
                self._succeeded(probe)
                return decision
        if not self._fail_open:
            return Decision(False, UNAVAILABLE_SCOPE, self._backoff, 0, 0, 0.0)
        return self._fallback.acquire_now(limits, tokens)

    async def charge_tokens(self, tokens: Limit, amount: int) -> None:
        deadline = self._outage.deadline()
        if deadline is not None:
            probe = self._outage.down
            try:
                async with asyncio.timeout(deadline):
                    await self._primary.charge_tokens(tokens, amount)
            except REDIS_FAILURES as exc:
                self._failed(exc, probe)
            except BaseException:
                self._outage.abandoned(probe)
                raise
            else:
                self._succeeded(probe)
                return
        self._fallback.charge_tokens_now(tokens, amount)

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(self._outage.timeout):
                return await self._primary.ping()
        except REDIS_FAILURES:
            return False

    async def aclose(self) -> None:
        try:
            await self._primary.aclose()
        finally:
            await self._fallback.aclose()

    # -- state ---------------------------------------------------------------------

    def _failed(self, exc: BaseException, probe: bool) -> None:
        if not self._outage.failed(exc, probe):
            return
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
        if self._outage.succeeded(probe):
            log.warning("rate limiter: Redis is back; shared limits resumed")
