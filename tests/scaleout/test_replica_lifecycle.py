"""Replicas come and go under traffic: a killed replica costs only its own in-flight
streams (which fail fast on the client, never hang); a replica stopped with SIGTERM
finishes every stream it started, exits 0, and the others keep serving throughout."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes import FakeUpstream
from tests.ratelimit.private_redis import PrivateRedis

from .cluster import Cluster, Outcome, ScaleAdmin, Traffic, shared_env
from .streams import StreamReader

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

UPSTREAM_KEY = "sk-lifecycle-upstream-0003"
GRACE_S = 10.0


@dataclass(frozen=True)
class Deployment:
    cluster: Cluster
    fake: FakeUpstream
    key: str


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, database_url: str,
               redis_server: PrivateRedis) -> Iterator[Deployment]:
    tmp: Path = tmp_path_factory.mktemp("lifecycle")
    env = shared_env(database_url, redis_server.url, SHUTDOWN_TIMEOUT=str(int(GRACE_S)))
    with FakeUpstream("openai", keys={UPSTREAM_KEY}) as fake, Cluster(tmp, 3, env) as cluster:
        with ScaleAdmin(cluster.replicas[0].url) as admin:
            up = admin.provider("up", "openai", fake.base_url, keys=[UPSTREAM_KEY],
                                max_retries=0)
            admin.mapping("fast", up["id"], "gpt-fast")
            admin.mapping("slow", up["id"], "gpt-slow")
            key = admin.create_client_key(name="lifecycle")["key"]
        _wait_serving(cluster, key)
        yield Deployment(cluster, fake, key)


def _wait_serving(cluster: Cluster, key: str, deadline: float = 5.0) -> None:
    """Every replica has loaded the configuration made through replica 0."""
    until = time.monotonic() + deadline
    for replica in cluster.replicas:
        while True:
            r = httpx.get(replica.url + "/v1/models/slow", timeout=5,
                          headers={"Authorization": f"Bearer {key}"})
            if r.status_code == 200:
                break
            assert time.monotonic() < until, f"{replica.url} did not load the config: {r.text}"
            time.sleep(0.05)


@pytest.fixture
def slow_streams(deployment: Deployment) -> Iterator[FakeUpstream]:
    fake = deployment.fake
    fake.clear_faults()
    fake.add_fault(model="gpt-slow", chunk_delay_ms=150, times=-1)
    yield fake
    fake.clear_faults()


def _open_streams(url: str, key: str, count: int, tokens: int) -> list[StreamReader]:
    readers = [StreamReader(url, key, "slow", f"tokens:{tokens}").start() for _ in range(count)]
    for reader in readers:
        assert reader.wait_started(10.0), "stream did not start"
        assert reader.error is None, reader.error
    return readers


def _assert_all_ok(outcomes: list[Outcome], urls: set[str]) -> None:
    failed = [o for o in outcomes if o.status != 200]
    assert not failed, failed[:5]
    assert {o.url for o in outcomes} == urls, "traffic did not reach every live replica"


def test_sigkilled_replica_costs_only_its_own_streams_which_fail_fast(
        deployment: Deployment, slow_streams: FakeUpstream) -> None:
    cluster, key = deployment.cluster, deployment.key
    victim = cluster.replicas[2]
    survivors = [r.url for r in cluster.replicas[:2]]
    # 40 tokens at 150 ms: 6 s of stream, killed after the first token
    doomed = _open_streams(victim.url, key, count=3, tokens=40)
    with Traffic(survivors, key, "fast") as traffic:
        time.sleep(0.3)
        victim.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        for reader in doomed:
            assert reader.wait_done(10.0), "a stream of the killed replica hangs"
        # the survivors keep serving for a while after the kill
        time.sleep(1.0)
        traffic.wait_for(2 * len(survivors))
    assert victim.wait(5) == -signal.SIGKILL
    for reader in doomed:
        assert reader.error is not None, f"stream ended without an error: {reader.text!r}"
        assert isinstance(reader.error, httpx.HTTPError | openai.APIError), repr(reader.error)
        assert not isinstance(reader.error, httpx.TimeoutException | openai.APITimeoutError)
        assert reader.ended_at is not None and reader.ended_at - killed_at < 3.0
        assert reader.finish_reason is None  # never presented as complete
        assert 0 < len(reader.tokens) < 40
    _assert_all_ok(traffic.outcomes, set(survivors))
    assert all(o.elapsed < 5.0 for o in traffic.outcomes), max(o.elapsed for o in traffic.outcomes)
    # the upstream sees the dead replica's streams go away
    until = time.monotonic() + 5.0
    while slow_streams.stats()["streams_open"] and time.monotonic() < until:
        time.sleep(0.05)
    assert slow_streams.stats()["streams_open"] == 0
    # and a replacement on the same port joins the deployment
    fresh = cluster.restart(2)
    _wait_serving(cluster, key)
    with openai.OpenAI(base_url=fresh.url + "/v1", api_key=key, max_retries=0) as client:
        assert client.chat.completions.create(
            model="fast", messages=[{"role": "user", "content": "hi"}]).choices


def test_sigterm_drains_streams_while_the_others_keep_serving(
        deployment: Deployment, slow_streams: FakeUpstream) -> None:
    cluster, key = deployment.cluster, deployment.key
    leaving = cluster.replicas[1]
    others = [cluster.replicas[0].url, cluster.replicas[2].url]
    tokens = 20  # 3 s at 150 ms per chunk, well inside the grace period
    streams = _open_streams(leaving.url, key, count=4, tokens=tokens)
    with Traffic(others, key, "fast") as traffic:
        leaving.signal(signal.SIGTERM)
        term_at = time.monotonic()
        for reader in streams:
            assert reader.wait_done(GRACE_S + 5), "stream did not finish during the drain"
        drained_at = time.monotonic()
        exit_code = leaving.wait(GRACE_S + 10)
        exited_at = time.monotonic()
        fresh = cluster.restart(1)  # the rolling restart brings it back
        _wait_serving(cluster, key)
        traffic.wait_for(2 * len(others))
    expected = " ".join(f"word{i}" for i in range(tokens))
    for reader in streams:
        assert reader.error is None, repr(reader.error)
        assert reader.text == expected
        assert reader.finish_reason == "stop"
    assert drained_at - term_at < GRACE_S
    assert exit_code == 0, leaving.logs()[-2000:]
    assert exited_at - term_at < GRACE_S + 5
    _assert_all_ok(traffic.outcomes, set(others))
    with openai.OpenAI(base_url=fresh.url + "/v1", api_key=key, max_retries=0) as client:
        assert client.chat.completions.create(
            model="fast", messages=[{"role": "user", "content": "hi"}]).choices
