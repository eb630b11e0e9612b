"""Both backends behind one harness, so every contract test runs on each.

In-process: a 60 s window on a fake clock (exact, no sleeping). Redis (shared server on
6379): a 2 s window on real server time, a fresh key prefix per test, keys deleted after.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from proxy.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter, connect_redis
from tests.ratelimit.private_redis import PrivateRedis
from tests.services import require_redis


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class MemoryBackend:
    name = "memory"
    window = 60.0
    tol = 1e-9  # how far a measured time may drift from the ideal one

    def __init__(self) -> None:
        self.clock = FakeClock()
        self._shared = MemoryRateLimiter(window=self.window, clock=self.clock)

    def make(self) -> RateLimiter:
        """A limiter sharing state with every other one made here (the same object)."""
        return self._shared

    async def now(self) -> float:
        return self.clock.now

    async def advance(self, seconds: float) -> None:
        self.clock.now += max(0.0, seconds)

    async def close(self) -> None:
        await self._shared.aclose()


class RedisBackend:
    name = "redis"
    window = 2.0
    tol = 0.1

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"test:rl:{uuid.uuid4().hex}:"
        self.made: list[RedisRateLimiter] = []
        self._admin = connect_redis(url, timeout=2.0)

    def make(self) -> RateLimiter:
        """A limiter with its own connection pool, sharing the test's keys."""
        limiter = RedisRateLimiter(
            connect_redis(self.url, timeout=2.0), window=self.window, prefix=self.prefix
        )
        self.made.append(limiter)
        return limiter

    async def now(self) -> float:
        sec, usec = await self._admin.time()
        return float(sec) + usec / 1e6

    async def advance(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def close(self) -> None:
        try:
            keys = [k async for k in self._admin.scan_iter(match=self.prefix + "*", count=500)]
            if keys:
                await self._admin.delete(*keys)
        finally:
            await self._admin.aclose()
            for limiter in self.made:
                await limiter.aclose()


Backend = MemoryBackend | RedisBackend


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    b: Backend = MemoryBackend() if request.param == "memory" else RedisBackend(require_redis())
    try:
        yield b
    finally:
        await b.close()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server
