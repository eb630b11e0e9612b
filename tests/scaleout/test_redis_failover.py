"""Two replicas sharing one Redis enforce one exact limit; when that Redis dies they keep
serving on in-process limits (fail-open, never a 500), and when it returns the shared
limit is exact again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import redis

from tests.ratelimit.private_redis import PrivateRedis

from .cluster import Cluster, ScaleAdmin, Traffic, call, sdk, shared_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

N = 20
USER = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, database_url: str,
            redis_server: PrivateRedis) -> Iterator[Cluster]:
    tmp: Path = tmp_path_factory.mktemp("redis")
    with Cluster(tmp, 2, shared_env(database_url, redis_server.url)) as c:
        with ScaleAdmin(c.replicas[0].url) as admin:
            mock = admin.provider("mock", "mock")
            admin.mapping("m", mock["id"], "mock-model")
        yield c


def _new_key(cluster: Cluster, name: str, rpm: int) -> dict[str, object]:
    """A client key with ``rpm`` requests per minute, known to every replica."""
    with ScaleAdmin(cluster.replicas[0].url) as admin:
        created = admin.create_client_key(name=name, rpm_limit=rpm)
    until = time.monotonic() + 5.0
    for replica in cluster.replicas:
        while httpx.get(replica.url + "/v1/models", timeout=5, headers={
                "Authorization": f"Bearer {created['key']}"}).status_code != 200:
            assert time.monotonic() < until, "client key did not reach every replica"
            time.sleep(0.05)
    return created


async def _burst(urls: list[str], key: str, count: int) -> list[int]:
    clients = [openai.AsyncOpenAI(base_url=u + "/v1", api_key=key, max_retries=0, timeout=30)
               for u in urls]

    async def one(client: openai.AsyncOpenAI) -> int:
        try:
            await client.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
        except openai.RateLimitError as exc:
            assert exc.response.headers.get("retry-after"), exc.response.headers
            assert exc.response.headers.get("x-ratelimit-limit-requests") == str(N)
            return 429
        return 200

    try:
        return list(await asyncio.gather(*(one(clients[i % len(clients)])
                                           for i in range(count))))
    finally:
        for client in clients:
            await client.close()


async def test_two_replicas_admit_exactly_the_limit(cluster: Cluster) -> None:
    key = _new_key(cluster, "exact", N)
    statuses = await _burst([r.url for r in cluster.replicas], str(key["key"]), 4 * N)
    assert statuses.count(200) == N, statuses
    assert statuses.count(429) == 3 * N, statuses


def _on_redis(redis_url: str, key_id: object) -> bool:
    """Whether the shared limiter holds a request log for this client key."""
    with redis.Redis.from_url(redis_url, socket_timeout=2) as r:
        return any(True for _ in r.scan_iter(match=f"*:key:{key_id}", count=1000))


async def test_redis_outage_fails_open_and_serves_without_errors(
        cluster: Cluster, redis_server: PrivateRedis) -> None:
    urls = [r.url for r in cluster.replicas]
    roomy = _new_key(cluster, "roomy", 100_000)  # limited, so every request asks Redis
    try:
        with Traffic(urls, str(roomy["key"]), "m") as traffic:
            traffic.wait_for(10)
            assert _on_redis(redis_server.url, roomy["id"])
            redis_server.stop()
            killed_at = time.monotonic()
            await asyncio.sleep(2.0)
            with ScaleAdmin(urls[1]) as admin:
                assert admin.health()["redis"]["status"] == "error"
    finally:
        redis_server.stop()  # a no-op when it is already down
        redis_server.start()
    before = [o for o in traffic.outcomes if o.started < killed_at]
    after = [o for o in traffic.outcomes if o.started >= killed_at]
    assert before and after
    failed = [o for o in traffic.outcomes if o.status != 200]
    assert not failed, failed[:5]
    assert {o.url for o in after} == set(urls), "a replica stopped serving without Redis"
    assert max(o.elapsed for o in after) < 2.0, "requests stalled on the dead Redis"


async def test_shared_limit_is_exact_again_after_redis_restarts(
        cluster: Cluster, redis_server: PrivateRedis) -> None:
    urls = [r.url for r in cluster.replicas]
    # a burst fills each replica's Redis connection pool
    warm = _new_key(cluster, "warm", 100_000)
    assert set(await _burst(urls, str(warm["key"]), 4 * N)) == {200}
    redis_server.stop()
    redis_server.start()
    # each replica notices, falls back, probes again after its back-off and resumes:
    # wait until both have written to the new Redis
    probes = {url: _new_key(cluster, f"probe-{i}", 100_000) for i, url in enumerate(urls)}
    until = time.monotonic() + 10.0
    pending = set(urls)
    while pending and time.monotonic() < until:
        for url in list(pending):
            with sdk(url, str(probes[url]["key"]), timeout=5) as client:
                assert call(client, url, "m").status == 200
            if _on_redis(redis_server.url, probes[url]["id"]):
                pending.discard(url)
        await asyncio.sleep(0.2)
    assert not pending, f"replicas did not resume shared limits: {pending}"

    key = _new_key(cluster, "exact-again", N)
    statuses = await _burst(urls, str(key["key"]), 4 * N)
    assert statuses.count(200) == N, statuses
    assert statuses.count(429) == 3 * N, statuses
