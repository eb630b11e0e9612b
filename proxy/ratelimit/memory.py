"""In-process rate limiter: an exact sliding-window log per request scope.

Each request scope keeps a deque of the monotonic times of the requests it admitted in
the last window, so the check is exact (at most ``limit`` admissions in any rolling
window, no 2N burst at a boundary) and costs a few deque operations per scope. Memory
per scope is bounded by its limit. Tokens use per-bucket sums (``TOKEN_BUCKETS`` per
window), the same rule as the Redis backend.

Scopes live in per-scope ``OrderedDict``s ordered by last use; every ``window / 8`` the
least recently used entries whose requests have all left the window are dropped, so the
tables hold only identities seen in about the last window (idle IPs do not accumulate).

Not thread-safe: one instance belongs to one event loop (``acquire`` never suspends, so
it is atomic with respect to other tasks).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence

from .base import DEFAULT_WINDOW, TOKEN_BUCKETS, TOKENS_SCOPE, Decision, Limit

__all__ = ["MemoryRateLimiter"]

_SWEEPS_PER_WINDOW = 8


class _TokenLog:
    """Token usage as ``[bucket index, amount]`` pairs, oldest first, and their sum."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()
        self.total = 0

    def prune(self, stale_below: float) -> None:
        """Drop buckets whose index is ``<= stale_below`` (entirely out of the window)."""
        buckets = self.buckets
        while buckets and buckets[0][0] <= stale_below:
            self.total -= buckets.popleft()[1]


class MemoryRateLimiter:
    def __init__(
        self,
        *,
        window: float = DEFAULT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self._window = window
        self._bucket = window / TOKEN_BUCKETS
        self._clock = clock
        self._requests: dict[str, OrderedDict[str, deque[float]]] = {}
        self._tokens: dict[str, OrderedDict[str, _TokenLog]] = {}
        self._sweep_every = window / _SWEEPS_PER_WINDOW
        self._next_sweep = clock() + self._sweep_every

    @property
    def window(self) -> float:
        return self._window

    async def acquire(self, limits: Sequence[Limit], tokens: Limit | None = None) -> Decision:
        return self.acquire_now(limits, tokens)

    def acquire_now(self, limits: Sequence[Limit], tokens: Limit | None = None) -> Decision:
        """The synchronous core of ``acquire`` (it never waits)."""
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        window = self._window
        cutoff = now - window
        tables = self._requests
        refused: str | None = None
        retry = 0.0
        best: deque[float] | None = None
        best_limit = 0
        best_count = 0
        admitted: list[deque[float]] = []
        for lim in limits:
            limit = lim.limit
            if limit <= 0:
                continue
            key = lim.key
            try:
                table = tables[lim.scope]
            except KeyError:
                table = tables[lim.scope] = OrderedDict()
            try:
                stamps = table[key]
            except KeyError:
                stamps = table[key] = deque()
            else:
                table.move_to_end(key)
                while stamps and stamps[0] <= cutoff:
                    stamps.popleft()
            count = len(stamps)
            if count >= limit:
                wait = stamps[count - limit] + window - now
                if refused is None or wait > retry:
                    refused, retry = lim.scope, wait
            admitted.append(stamps)
            if best is None or limit - count < best_limit - best_count:
                best, best_limit, best_count = stamps, limit, count

        tokens_limit = tokens_remaining = None
        tokens_reset: float | None = None
        if tokens is not None and tokens.limit > 0:
            log = self._token_log(tokens, now)
            tokens_limit = tokens.limit
            tokens_remaining = max(0, tokens.limit - log.total)
            tokens_reset = self._bucket_expiry(log.buckets[0][0], now) if log.buckets else 0.0
            if log.total >= tokens.limit:
                wait = self._tokens_wait(log, tokens.limit, now)
                if refused is None or wait > retry:
                    refused, retry = TOKENS_SCOPE, wait

        if refused is None:
            for stamps in admitted:
                stamps.append(now)
            best_count += 1
        if best is None:
            return Decision(
                refused is None, refused, retry, 0, 0, 0.0,
                tokens_limit, tokens_remaining, tokens_reset,
            )
        reset = best[0] + window - now if best else 0.0
        return Decision(
            refused is None, refused, retry, best_limit, max(0, best_limit - best_count), reset,
            tokens_limit, tokens_remaining, tokens_reset,
        )

    async def charge_tokens(self, tokens: Limit, amount: int) -> None:
        self.charge_tokens_now(tokens, amount)

    def charge_tokens_now(self, tokens: Limit, amount: int) -> None:
        if tokens.limit <= 0 or amount <= 0:
            return
        now = self._clock()
        log = self._token_log(tokens, now)
        index = math.floor(now / self._bucket)
        if log.buckets and log.buckets[-1][0] == index:
            log.buckets[-1][1] += amount
        else:
            log.buckets.append([index, amount])
        log.total += amount

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._requests.clear()
        self._tokens.clear()

    def tracked(self) -> int:
        """How many identities are held (for tests and metrics)."""
        return sum(map(len, self._requests.values())) + sum(map(len, self._tokens.values()))

    # -- internals ---------------------------------------------------------------

    def _token_log(self, tokens: Limit, now: float) -> _TokenLog:
        try:
            table = self._tokens[tokens.scope]
        except KeyError:
            table = self._tokens[tokens.scope] = OrderedDict()
        key = tokens.key
        try:
            log = table[key]
        except KeyError:
            log = table[key] = _TokenLog()
        else:
            table.move_to_end(key)
            buckets = log.buckets
            if buckets and buckets[0][0] <= (now - self._window) / self._bucket - 1:
                log.prune(self._stale_bucket(now))
        return log

    def _stale_bucket(self, now: float) -> float:
        # bucket i spans [i*b, (i+1)*b); it is stale once (i+1)*b <= now - window
        return (now - self._window) / self._bucket - 1

    def _bucket_expiry(self, index: int, now: float) -> float:
        return (index + 1) * self._bucket + self._window - now

    def _tokens_wait(self, log: _TokenLog, limit: int, now: float) -> float:
        used = log.total
        for index, amount in log.buckets:
            used -= amount
            if used < limit:
                return self._bucket_expiry(index, now)
        return 0.0  # unreachable while total >= limit

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self._sweep_every
        cutoff = now - self._window
        for table in self._requests.values():
            while table:
                key, stamps = next(iter(table.items()))
                if stamps and stamps[-1] > cutoff:
                    break
                del table[key]
        stale = self._stale_bucket(now)
        for logs in self._tokens.values():
            while logs:
                key, log = next(iter(logs.items()))
                if log.buckets and log.buckets[-1][0] > stale:
                    break
                del logs[key]
