"""Redis going away and coming back, against a private redis-server this test owns."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest

from proxy.ratelimit import (
    UNAVAILABLE_SCOPE,
    FailoverRateLimiter,
    Limit,
    MemoryRateLimiter,
    RedisRateLimiter,
    build_rate_limiter,
    connect_redis,
)
from proxy.ratelimit.failover import DOWN_AFTER
from tests.ratelimit.private_redis import PrivateRedis
from tests.ratelimit.slow_link import SlowLink

pytestmark = pytest.mark.timeout(30)

BACKOFF = 0.3


WAIT = 0.5


def _failover(url: str, prefix: str, on_fallback: list[str], fail_open: bool = True) -> FailoverRateLimiter:
    primary = RedisRateLimiter(connect_redis(url, timeout=WAIT), window=10.0, prefix=prefix)
    return FailoverRateLimiter(
        primary, MemoryRateLimiter(window=10.0), on_fallback=on_fallback.append,
        timeout=0.25, wait=WAIT, backoff=BACKOFF, fail_open=fail_open,
    )


async def _until_shared(lim: FailoverRateLimiter, rules: list[Limit], deadline: float) -> None:
    until = time.monotonic() + deadline
    while lim.degraded:
        assert time.monotonic() < until, "Redis came back but the limiter did not resume"
        await asyncio.sleep(BACKOFF / 3)
        await lim.acquire(rules)


async def test_killed_redis_falls_back_once_and_shared_limits_resume(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"t:{uuid.uuid4().hex}:"
    fallbacks: list[str] = []
    lim = _failover(private_redis.url, prefix, fallbacks)
    other = _failover(private_redis.url, prefix, fallbacks)
    try:
        roomy = [Limit("global", "*", 10_000)]
        assert (await lim.acquire(roomy)).allowed and not lim.degraded
        private_redis.stop()
        caplog.set_level(logging.WARNING, logger="proxy.ratelimit.failover")
        decisions = []
        for _ in range(3):  # spans several backoff periods: probes fail again
            decisions += [await lim.acquire(roomy, Limit("key", "k", 1000)) for _ in range(20)]
            await asyncio.sleep(BACKOFF * 1.2)
        await lim.charge_tokens(Limit("key", "k", 1000), 10)
        assert all(d.allowed for d in decisions) and lim.degraded
        assert fallbacks == ["ConnectionError"], "the hook is called once per outage"
        down_lines = [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(down_lines) == 1, "one log line per outage, not one per request"
        assert (await lim.acquire([], Limit("key", "k", 1000))).tokens_remaining == 990
        assert not await lim.ping()

        private_redis.start()
        await _until_shared(lim, roomy, deadline=5.0)
        await _until_shared(other, roomy, deadline=5.0)  # never failed: returns at once
        assert any("is back" in r.getMessage() for r in caplog.records)
        assert await lim.ping()

        n = 5
        rules = [Limit("key", "after-restart", n)]
        decisions = await asyncio.gather(
            *(x.acquire(rules) for _ in range(2 * n) for x in (lim, other))
        )
        assert sum(d.allowed for d in decisions) == n, "limits are shared again"
        assert fallbacks == ["ConnectionError"]
    finally:
        await lim.aclose()
        await other.aclose()


async def test_answers_later_than_the_timeout_decide_and_are_never_admitted_twice(
        private_redis: PrivateRedis) -> None:
    """A call abandoned on our side may still have run in Redis: answering it in process
    too would let each replica admit its own full limit on top of the shared one."""
    prefix = f"t:{uuid.uuid4().hex}:"
    fallbacks: list[str] = []
    async with SlowLink(private_redis.port).running() as link:
        replicas = [build_rate_limiter(link.url, on_fallback=fallbacks.append, window=10.0,
                                       prefix=prefix, backoff=BACKOFF) for _ in range(2)]
        try:
            for lim in replicas:  # connected, scripts loaded
                assert (await lim.acquire([Limit("key", "warm", 2)])).allowed
            link.delay = 0.4  # later than the limiter's timeout (0.25 s)
            n = 10
            rules = [Limit("key", "slow", n)]
            decisions = await asyncio.gather(
                *(lim.acquire(rules) for _ in range(2 * n) for lim in replicas))
            assert sum(d.allowed for d in decisions) == n, "the shared limit was exceeded"
            assert fallbacks == [] and not any(
                isinstance(lim, FailoverRateLimiter) and lim.degraded for lim in replicas)
        finally:
            for lim in replicas:
                await lim.aclose()


async def test_hung_redis_costs_one_timeout_per_backoff(private_redis: PrivateRedis) -> None:
    fallbacks: list[str] = []
    lim = _failover(private_redis.url, f"t:{uuid.uuid4().hex}:", fallbacks)
    rules = [Limit("ip", "1.1.1.1", 1000)]
    try:
        assert (await lim.acquire(rules)).allowed
        private_redis.freeze()
        try:
            # a slow answer is not an outage: DOWN_AFTER timeouts in a row declare it
            started = time.monotonic()
            for _ in range(DOWN_AFTER):
                assert (await lim.acquire(rules)).allowed
            first = (time.monotonic() - started) / DOWN_AFTER
            started = time.monotonic()
            for _ in range(20):
                assert (await lim.acquire(rules)).allowed
            rest = time.monotonic() - started
        finally:
            private_redis.thaw()
        assert first < WAIT + 0.35, f"a hung Redis stalled a request {first:.3f}s"
        assert rest < 0.05, f"requests kept waiting on a known-dead Redis ({rest:.3f}s)"
        assert fallbacks == ["TimeoutError"]
    finally:
        await lim.aclose()


async def test_fail_closed_refuses_while_redis_is_down(private_redis: PrivateRedis) -> None:
    fallbacks: list[str] = []
    lim = _failover(private_redis.url, f"t:{uuid.uuid4().hex}:", fallbacks, fail_open=False)
    try:
        private_redis.stop()
        d = await lim.acquire([Limit("key", "k", 10)])
        assert not d.allowed and d.scope == UNAVAILABLE_SCOPE and d.retry_after == BACKOFF
        assert fallbacks == ["ConnectionError"]
    finally:
        await lim.aclose()


async def test_redis_unreachable_from_the_start_never_raises() -> None:
    from tests.services import free_port

    fallbacks: list[str] = []
    lim = build_rate_limiter(
        f"redis://127.0.0.1:{free_port()}/0", on_fallback=fallbacks.append, backoff=BACKOFF
    )
    try:
        assert isinstance(lim, FailoverRateLimiter)
        ds = [await lim.acquire([Limit("key", "k", 2)]) for _ in range(3)]
        assert [d.allowed for d in ds] == [True, True, False], "fallback still limits"
        assert len(fallbacks) == 1
    finally:
        await lim.aclose()


async def test_without_a_url_the_limiter_is_in_process() -> None:
    lim = build_rate_limiter(None)
    assert isinstance(lim, MemoryRateLimiter) and await lim.ping()
    await lim.aclose()
