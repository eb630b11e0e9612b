"""Budgets shared through a Redis that answers late or not at all: every reservation is
applied once (in Redis, or in process when Redis did not decide it) and every settled cost
once, across two replicas (two ``Spend`` objects sharing one private redis-server)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest

from proxy.auth import ClientKey
from proxy.metrics import Metrics
from proxy.ratelimit import connect_redis
from proxy.routing import Hop, Route
from proxy.spend.ledger import Budget, SpendKey
from proxy.spend.prices import parse_pricing
from proxy.spend.redis_ledger import RedisLedger
from proxy.spend.service import Reservation, Spend
from supervisors.errors import BudgetExceeded
from tests.ratelimit.private_redis import PrivateRedis
from tests.ratelimit.slow_link import SlowLink

pytestmark = pytest.mark.timeout(60)

ROUTE = Route("m", (Hop("p", "m", pricing=parse_pricing(
    {"input_per_mtok": 0, "output_per_mtok": 1000})),))
WAIT = 1.0  # how long a call waits for Redis while Redis is up (the probe: 0.25 s)


class _Store:
    """The two spend methods of the store, shared by the replicas (the database)."""

    def __init__(self) -> None:
        self.rows: dict[SpendKey, int] = {}

    async def get_spend(self, keys: Sequence[SpendKey]) -> dict[SpendKey, int]:
        return {k: self.rows[k] for k in keys if k in self.rows}

    async def add_spend(self, rows: Sequence[tuple[str, str, str, int]]) -> None:
        for scope, ident, label, nanos in rows:
            key = (scope, ident, label)
            self.rows[key] = self.rows.get(key, 0) + nanos


@pytest.fixture(scope="module")
def redis_server() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server


@pytest.fixture
async def link(redis_server: PrivateRedis) -> AsyncIterator[SlowLink]:
    async with SlowLink(redis_server.port).running() as relay:
        yield relay
    client = connect_redis(redis_server.url)
    try:
        await client.flushdb()
    finally:
        await client.aclose(close_connection_pool=True)


def _replica(url: str, store: _Store, **options: Any) -> Spend:
    return Spend(store, Metrics(), redis=connect_redis(url, timeout=2.0),  # type: ignore[arg-type]
                 **options)


async def _close(replicas: Sequence[Spend]) -> None:
    for spend in replicas:
        await spend.close()
        assert spend.redis is not None
        await spend.redis.client.aclose(close_connection_pool=True)


def _client(amount_budget: int) -> ClientKey:
    return ClientKey(id=int(uuid.uuid4().int % 1_000_000), name="k", tenant=None,
                     is_admin=False, budget_nanos=amount_budget, budget_period="total")


async def _reserve(spend: Spend, client: ClientKey) -> Reservation | None:
    try:
        reservation = await spend.reserve(client, ROUTE, 100, 0)
    except BudgetExceeded:
        return None
    assert reservation is not None
    return reservation


async def _shared(spend: Spend, budget: Budget) -> tuple[int, int] | None:
    assert spend.redis is not None
    return await spend.redis.state(budget)


async def test_late_answers_decide_and_no_reservation_is_applied_twice(
        link: SlowLink) -> None:
    """A reservation abandoned on our side may still have run in Redis: taking it in
    process as well let each replica admit its own budget on top of the shared one."""
    store = _Store()
    replicas = [_replica(link.url, store, redis_wait=WAIT) for _ in range(2)]
    try:
        amount = 10**8  # 100 output tokens at $1000 per million: $0.1 in nano-dollars
        n = 10
        client = _client(n * amount)
        for spend in replicas:  # connected, scripts loaded, the budget's state seeded
            warm = await _reserve(spend, client)
            assert warm is not None and warm.amount == amount
            spend.settle(client, warm, 0)
            assert spend.redis is not None
            await spend.redis.drain()
        link.delay = 0.4  # later than the probe's short deadline (0.25 s), within WAIT
        got = await asyncio.gather(*(_reserve(spend, client)
                                     for _ in range(2 * n) for spend in replicas))
        admitted = [(spend, r) for spend, r in zip(replicas * (2 * n), got, strict=True)
                    if r is not None]
        assert len(admitted) == n, "the shared budget was exceeded"
        for spend, reservation in admitted:
            spend.settle(client, reservation, amount // 2)
        link.delay = 0.0
        for spend in replicas:
            assert spend.redis is not None
            await spend.redis.drain()
        budget = admitted[0][1].budgets[0]
        assert await _shared(replicas[0], budget) == (n * amount // 2, 0)
        assert not any(spend.redis_degraded for spend in replicas)
    finally:
        await _close(replicas)


async def test_a_reservation_abandoned_after_it_ran_in_redis_is_released_there(
        link: SlowLink) -> None:
    """No answer within the wait: the request is decided in process, and its settlement
    releases what Redis reserved for it (and adds its cost there) instead of leaving it
    held for ``hold`` seconds."""
    store = _Store()
    spend = _replica(link.url, store, redis_wait=WAIT)
    try:
        client = _client(10**9)
        seeded = await _reserve(spend, client)
        assert seeded is not None
        spend.settle(client, seeded, 0)
        assert spend.redis is not None
        await spend.redis.drain()
        link.delay = WAIT + 0.4
        reservation = await _reserve(spend, client)
        assert reservation is not None
        link.delay = 0.0
        budget = reservation.budgets[0]
        await asyncio.sleep(1.0)  # the abandoned script's answer has come and gone
        assert await _shared(spend, budget) == (0, reservation.amount), "it ran in Redis"
        spend.settle(client, reservation, 1234)
        assert spend.redis is not None
        await spend.redis.drain()
        assert await _shared(spend, budget) == (1234, 0)
        assert spend.memory.state(budget.key) == (1234, 0)
    finally:
        await _close([spend])


async def test_a_reservation_settled_before_its_script_ran_is_never_held(
        redis_server: PrivateRedis) -> None:
    """The settlement of an abandoned reservation may reach Redis before the
    reservation's own script does: that script then reserves nothing."""
    async def load(key: SpendKey) -> int:
        return 0

    ledger = RedisLedger(connect_redis(redis_server.url, timeout=2.0), load,
                         prefix=f"t:{uuid.uuid4().hex}:")
    budget = Budget("key", "1", 1000, "total")
    try:
        assert await ledger.reserve([budget], 1, ledger.new_id()) is None  # seeded
        rid = ledger.new_id()
        ledger.settle([budget], rid, 7)
        await ledger.drain()
        assert await ledger.reserve([budget], 100, rid) is None  # its caller is gone
        assert await ledger.state(budget) == (7, 1)
    finally:
        await ledger.client.flushdb()
        await ledger.client.aclose(close_connection_pool=True)


async def test_an_outage_falls_back_to_in_process_budgets_that_know_all_spend(
        redis_server: PrivateRedis) -> None:
    """The fallback counts what every replica spent (as far as the database has it), not
    only what this one settled since its state was loaded."""
    store = _Store()
    replicas = [_replica(redis_server.url, store, redis_wait=WAIT) for _ in range(2)]
    here, other = replicas
    try:
        client = _client(4 * 10**8)
        assert await here.memory.reserve(here.budgets(client), 0) is None  # loaded: warm
        for spend in replicas:  # each settles one request's worst case through Redis
            reservation = await _reserve(spend, client)
            assert reservation is not None and not spend.redis_degraded
            spend.settle(client, reservation, reservation.amount)
        await other.recorder.flush()  # the other replica's spend is in the database
        redis_server.stop()
        try:
            got = [await _reserve(here, client) for _ in range(3)]
            assert here.redis_degraded
            assert sum(r is not None for r in got) == 2, "the fallback knew all spend"
        finally:
            redis_server.start()
    finally:
        await _close(replicas)
