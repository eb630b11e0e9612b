"""The two ledgers' shared semantics (in process and Redis): all-or-nothing reservations
over several budgets, settlement, loading from the database, and (Redis) reservations of a
replica that died released after ``hold``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from proxy.ratelimit import connect_redis
from proxy.spend.ledger import Budget, MemoryLedger, SpendKey
from proxy.spend.redis_ledger import RedisLedger
from tests.ratelimit.private_redis import PrivateRedis

pytestmark = pytest.mark.timeout(30)


class _Loader:
    def __init__(self, stored: dict[SpendKey, int]) -> None:
        self.stored = stored
        self.calls: list[SpendKey] = []

    async def __call__(self, key: SpendKey) -> int:
        self.calls.append(key)
        await asyncio.sleep(0.01)
        return self.stored.get(key, 0)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server


class _Either:
    """One interface over both ledgers for the shared tests."""

    def __init__(self, kind: str, loader: _Loader, url: str | None, hold: int = 900) -> None:
        self.kind = kind
        self.memory = MemoryLedger(loader)
        self.redis = (RedisLedger(connect_redis(url, timeout=2.0), loader, hold=hold,
                                  timeout=2.0) if url else None)

    async def reserve(self, budgets: list[Budget], amount: int) -> Any:
        if self.redis is not None:
            rid = self.redis.new_id()
            return await self.redis.reserve(budgets, amount, rid), rid
        return await self.memory.reserve(budgets, amount), None

    async def settle(self, budgets: list[Budget], rid: str | None, amount: int,
                     actual: int) -> None:
        if self.redis is not None:
            assert rid is not None
            self.redis.settle(budgets, rid, actual)
            await self.redis.drain()
        else:
            self.memory.settle(budgets, amount, actual)

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.client.flushdb()
            await self.redis.client.aclose(close_connection_pool=True)


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    made: list[_Either] = []

    def build(loader: _Loader, hold: int = 900) -> _Either:
        url = None
        if request.param == "redis":
            url = request.getfixturevalue("redis_server").url
        either = _Either(request.param, loader, url, hold)
        made.append(either)
        return either

    yield build
    for either in made:
        await either.aclose()


async def test_all_or_nothing_over_key_and_tenant(make: Any) -> None:
    key = Budget("key", "1", 100, "m:2030-01")
    tenant = Budget("tenant", "t", 150, "m:2030-01")
    loader = _Loader({tenant.key: 60})  # the tenant already spent 60 (other keys)
    ledger = make(loader)
    refusal, rid = await ledger.reserve([key, tenant], 100)
    assert refusal is not None and refusal.budget == tenant and refusal.remaining == 90
    ok, rid = await ledger.reserve([key, tenant], 90)
    assert ok is None
    # the refused attempt reserved nothing on the key: 10 left there, 0 on the tenant
    refusal, _ = await ledger.reserve([key], 11)
    assert refusal is not None and refusal.remaining == 10
    await ledger.settle([key, tenant], rid, 90, 30)  # actual cost below the reservation
    ok, _ = await ledger.reserve([key, tenant], 60)
    assert ok is None
    refusal, _ = await ledger.reserve([key, tenant], 1)
    assert refusal is not None


async def test_state_is_loaded_once_even_under_a_burst(make: Any) -> None:
    budget = Budget("key", "2", 1000, "total")
    loader = _Loader({budget.key: 990})
    ledger = make(loader)
    results = await asyncio.gather(*(ledger.reserve([budget], 1) for _ in range(50)))
    assert sum(1 for refusal, _ in results if refusal is None) == 10
    assert len(loader.calls) == 1


async def test_redis_releases_a_dead_replicas_reservation(redis_server: PrivateRedis) -> None:
    budget = Budget("key", "3", 100, "total")
    loader = _Loader({})
    ledger = _Either("redis", loader, redis_server.url, hold=1)
    try:
        refusal, _ = await ledger.reserve([budget], 100)  # never settled: the replica "died"
        assert refusal is None
        refusal, _ = await ledger.reserve([budget], 1)
        assert refusal is not None
        await asyncio.sleep(2.1)
        refusal, _ = await ledger.reserve([budget], 100)
        assert refusal is None
    finally:
        await ledger.aclose()
