"""Redis specifics: one round trip, script reload, bounded memory (private redis-server)."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from proxy.ratelimit import Limit, RedisRateLimiter, connect_redis
from tests.ratelimit.private_redis import PrivateRedis

pytestmark = pytest.mark.timeout(30)

# commands the scripts run inside Redis; anything else in commandstats came from a client
SCRIPT_COMMANDS = {
    "time", "zremrangebyscore", "zcard", "zrange", "zadd", "pexpire", "hgetall", "hdel",
    "hincrby",
}
RULES = [
    Limit("global", "*", 100), Limit("tenant", "acme", 100),
    Limit("key", "k1", 100), Limit("ip", "10.0.0.1", 100),
]


async def _command_calls(admin: Redis) -> dict[str, int]:
    stats = await admin.info("commandstats")
    return {name.removeprefix("cmdstat_"): v["calls"] for name, v in stats.items()}


async def test_one_round_trip_per_request_for_all_scopes(private_redis: PrivateRedis) -> None:
    admin = connect_redis(private_redis.url, timeout=2.0)
    lim = RedisRateLimiter(connect_redis(private_redis.url, timeout=2.0), window=5.0)
    try:
        tokens = Limit("key", "k1", 1000)
        await lim.acquire(RULES, tokens)  # loads the script (NOSCRIPT, SCRIPT LOAD)
        await admin.config_resetstat()
        for _ in range(10):
            assert (await lim.acquire(RULES, tokens)).allowed
        calls = await _command_calls(admin)
        client_calls = {k: v for k, v in calls.items() if k not in SCRIPT_COMMANDS}
        client_calls.pop("config|resetstat", None)
        client_calls.pop("info", None)
        assert client_calls == {"evalsha": 10}
    finally:
        await lim.aclose()
        await admin.aclose(close_connection_pool=True)


async def test_flushed_scripts_are_loaded_again(private_redis: PrivateRedis) -> None:
    admin = connect_redis(private_redis.url, timeout=2.0)
    lim = RedisRateLimiter(connect_redis(private_redis.url, timeout=2.0), window=5.0)
    try:
        tokens = Limit("key", "k1", 1000)
        assert (await lim.acquire(RULES)).allowed
        await admin.script_flush()
        assert (await lim.acquire(RULES)).allowed
        await admin.script_flush()
        await lim.charge_tokens(tokens, 7)
        assert (await lim.acquire(RULES, tokens)).tokens_remaining == 993
    finally:
        await lim.aclose()
        await admin.aclose(close_connection_pool=True)


async def test_concurrent_requests_share_one_pipeline_and_survive_a_flush(
    private_redis: PrivateRedis,
) -> None:
    admin = connect_redis(private_redis.url, timeout=2.0)
    lim = RedisRateLimiter(connect_redis(private_redis.url, timeout=2.0), window=5.0)
    try:
        rules = [Limit("key", "burst", 30)]
        await lim.acquire([Limit("key", "warm", 5)])
        await admin.script_flush()  # the whole batch answers NOSCRIPT and is sent again
        await admin.config_resetstat()
        decisions = await asyncio.gather(*(lim.acquire(rules) for _ in range(40)))
        assert sum(d.allowed for d in decisions) == 30  # none counted twice or lost
        calls = await _command_calls(admin)
        # 40 requests, one round trip: 40 NOSCRIPT answers, one load, 40 runs
        assert calls.get("evalsha") == 80 and calls.get("script|load") == 1
    finally:
        await lim.aclose()
        await admin.aclose(close_connection_pool=True)


async def test_every_key_expires_after_about_a_window(private_redis: PrivateRedis) -> None:
    admin = connect_redis(private_redis.url, timeout=2.0)
    window = 3.0
    lim = RedisRateLimiter(connect_redis(private_redis.url, timeout=2.0), window=window, prefix="x:")
    try:
        tokens = Limit("key", "k1", 1000)
        await lim.acquire(RULES, tokens)
        await lim.charge_tokens(tokens, 5)
        keys = sorted(k.decode() if isinstance(k, bytes) else k for k in await admin.keys("x:*"))
        assert keys == [
            "x:r:global:*", "x:r:ip:10.0.0.1", "x:r:key:k1", "x:r:tenant:acme", "x:t:key:k1",
        ]
        for key in keys:
            ttl = await admin.pttl(key)
            assert 0 < ttl <= window * 1000 + 2000, (key, ttl)
    finally:
        await lim.aclose()
        await admin.aclose(close_connection_pool=True)


async def test_stale_token_buckets_are_removed(private_redis: PrivateRedis) -> None:
    import asyncio

    admin = connect_redis(private_redis.url, timeout=2.0)
    window = 0.6
    lim = RedisRateLimiter(connect_redis(private_redis.url, timeout=2.0), window=window, prefix="y:")
    try:
        tokens = Limit("key", "k1", 1_000_000)
        for _ in range(30):
            await lim.charge_tokens(tokens, 1)
            await asyncio.sleep(window / 20)
        await lim.acquire([], tokens)
        fields = await admin.hlen("y:t:key:k1")
        assert 0 < fields <= 61, "only buckets inside the window are kept"
    finally:
        await lim.aclose()
        await admin.aclose(close_connection_pool=True)
