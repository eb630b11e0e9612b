"""Cache backends: the in-process LRU's byte bound and expiry (injected clock), and the
Redis backend against a real server, failing open when it goes away."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from proxy.cache import CacheUnavailable, MemoryBackend, RedisBackend
from proxy.ratelimit.redis_backend import connect_redis
from tests.ratelimit.private_redis import PrivateRedis

pytestmark = pytest.mark.timeout(30)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_entries_expire_on_time() -> None:
    clock = Clock()
    cache = MemoryBackend(1 << 20, clock=clock)
    await cache.set("k", b"v", ttl=10)
    clock.now += 9.9
    assert await cache.get("k") == b"v"
    clock.now += 0.2
    assert await cache.get("k") is None
    assert cache.snapshot()["entries"] == 0 and cache.bytes == 0


async def test_memory_stays_under_its_bound_and_evicts_least_recently_used() -> None:
    cache = MemoryBackend(64 * 1024)
    for i in range(500):
        await cache.set(f"key-{i}", bytes(1000), ttl=60)
        assert cache.bytes <= cache.max_bytes
        if i >= 2:
            assert await cache.get("key-0") is not None  # kept fresh: never evicted
    assert await cache.get("key-1") is None
    assert await cache.get("key-499") is not None
    snapshot = cache.snapshot()
    assert snapshot["bytes"] <= 64 * 1024 and 40 < snapshot["entries"] < 64


async def test_memory_refuses_an_entry_over_an_eighth_of_its_bound() -> None:
    cache = MemoryBackend(8000)
    await cache.set("big", bytes(1000), ttl=60)
    assert await cache.get("big") is None and cache.bytes == 0


async def test_memory_replacing_a_key_counts_its_bytes_once() -> None:
    cache = MemoryBackend(1 << 20)
    for _ in range(10):
        await cache.set("k", bytes(100), ttl=60)
    assert cache.snapshot()["entries"] == 1 and cache.bytes < 400


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server


async def test_redis_stores_bounded_values_with_expiry(redis_server: PrivateRedis) -> None:
    backend = RedisBackend(connect_redis(redis_server.url), max_entry_bytes=1000)
    try:
        await backend.set("k", b"value", ttl=30)
        assert await backend.get("k") == b"value"
        await backend.set("big", bytes(2000), ttl=30)
        assert await backend.get("big") is None
        client = connect_redis(redis_server.url)
        try:
            assert 0 < await client.ttl("proxy:cache:k") <= 30
        finally:
            await client.aclose(close_connection_pool=True)
    finally:
        await backend.aclose()


async def test_redis_outage_fails_open_then_backs_off(redis_server: PrivateRedis) -> None:
    clock = Clock()
    backend = RedisBackend(connect_redis(redis_server.url), backoff=5.0, clock=clock)
    try:
        await backend.set("k", b"v", ttl=30)
        redis_server.stop()
        with pytest.raises(CacheUnavailable):
            await backend.get("k")
        with pytest.raises(CacheUnavailable):  # not asked again while backing off
            await backend.set("k", b"v", ttl=30)
        assert backend.errors == 1 and backend.snapshot()["degraded"] is True
        clock.now += 6
        assert backend.snapshot()["degraded"] is False
    finally:
        await backend.aclose()
