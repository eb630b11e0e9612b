"""The response cache in Redis: a second replica serves the first one's entry; a Redis
outage turns the cache into a bypass and never fails a request."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy.crypto import generate_fernet_key
from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess
from tests.ratelimit.private_redis import PrivateRedis

pytestmark = pytest.mark.timeout(90)

KEY = "sk-upstream-cache-redis-1111"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys={KEY}) as fake:
        yield fake


@pytest.fixture(scope="module")
def redis_server() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream,
             redis_server: PrivateRedis) -> Iterator[tuple[ProxyProcess, ProxyProcess, str]]:
    """Two replicas on one SQLite file and one Redis."""
    tmp: Path = tmp_path_factory.mktemp("cache-redis")
    env = {"REDIS_URL": redis_server.url, "ENCRYPTION_KEY": generate_fernet_key(),
           "DATABASE_URL": f"sqlite:///{tmp / 'shared' / 'proxy.db'}",
           "DATA_DIR": str(tmp / "shared")}
    with ProxyProcess(tmp / "one", env=env) as first:
        admin = first.admin
        up = admin.provider("up", "openai", upstream.base_url, keys=[KEY], max_retries=0)
        admin.mapping("cached", up["id"], "gpt-4o-mini", cache_ttl=60)
        key = admin.client_key("shared", tenant="acme")
        with ProxyProcess(tmp / "two", env=env) as second:
            yield first, second, key


def _ask(proc: ProxyProcess, key: str, body: dict[str, object]) -> httpx.Response:
    resp = httpx.post(proc.url + "/v1/chat/completions", json=body, timeout=20,
                      headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    return resp


def _body() -> dict[str, object]:
    return {"model": "cached", "max_tokens": 20,
            "messages": [{"role": "user", "content": f"question {uuid.uuid4().hex}"}]}


def test_a_second_replica_serves_the_first_ones_entry(
        replicas: tuple[ProxyProcess, ProxyProcess, str], upstream: FakeUpstream) -> None:
    first, second, key = replicas
    upstream.reset_stats()
    body = _body()
    stored = _ask(first, key, body)
    served = _ask(second, key, body)
    assert (stored.headers["x-proxy-cache"], served.headers["x-proxy-cache"]) == ("miss", "hit")
    assert served.json() == stored.json()
    streamed = _ask(second, key, {**body, "stream": True})
    assert streamed.headers["x-proxy-cache"] == "hit" and "data: [DONE]" in streamed.text
    assert len([r for r in upstream.requests if r.path == "/v1/chat/completions"]) == 1
    assert second.admin.health()["cache"]["backend"] == "redis"


def test_redis_outage_bypasses_the_cache_and_serves(
        replicas: tuple[ProxyProcess, ProxyProcess, str], redis_server: PrivateRedis,
        upstream: FakeUpstream) -> None:
    first, _, key = replicas
    body = _body()
    redis_server.freeze()  # accepts connections, answers nothing: every call times out
    try:
        replies = [_ask(first, key, body) for _ in range(3)]
    finally:
        redis_server.thaw()
    assert [r.headers["x-proxy-cache"] for r in replies] == ["bypass"] * 3
    assert first.admin.health()["cache"]["degraded"] is True
