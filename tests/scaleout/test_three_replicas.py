"""Three replicas on one PostgreSQL and one Redis behave as one gateway: an admin change
made through one is applied by all within 2 s, and a client key's rpm limit holds
exactly across them."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import openai
import psycopg
import pytest

from tests.fakes import FakeUpstream
from tests.ratelimit.private_redis import PrivateRedis

from .cluster import Cluster, Outcome, ScaleAdmin, Traffic, call, converge, sdk, shared_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

KEY_ALPHA = "sk-alpha-upstream-key-0001"
KEY_BETA = "sk-beta-upstream-key-0002"
PROPAGATION_LIMIT_S = 2.0  # PRODUCT.md: "within 2 seconds"
USER = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream("openai", keys={KEY_ALPHA}) as alpha, \
            FakeUpstream("openai", keys={KEY_BETA}) as beta:
        yield alpha, beta


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, database_url: str,
            redis_server: PrivateRedis) -> Iterator[Cluster]:
    tmp: Path = tmp_path_factory.mktemp("three")
    with Cluster(tmp, 3, shared_env(database_url, redis_server.url)) as c:
        admin = ScaleAdmin(c.replicas[0].url)
        mock = admin.provider("mock", "mock")
        admin.mapping("m", mock["id"], "mock-model")
        admin.close()
        yield c


def _urls(cluster: Cluster) -> list[str]:
    return [r.url for r in cluster.replicas]


def _known_everywhere(urls: list[str], key: str) -> dict[str, float]:
    """Wait until every replica accepts ``key`` (``GET /v1/models`` costs no rate limit)."""
    def accepted(url: str) -> bool:
        return httpx.get(url + "/v1/models", timeout=5,
                         headers={"Authorization": f"Bearer {key}"}).status_code == 200
    return converge(accepted, urls, time.monotonic(), deadline=5.0, settle=0)


def test_admin_changes_through_one_replica_apply_on_all_within_2s(
        cluster: Cluster, upstreams: tuple[FakeUpstream, FakeUpstream]) -> None:
    urls = _urls(cluster)
    alpha_up, beta_up = upstreams
    admin = ScaleAdmin(urls[0])
    alpha = admin.provider("alpha", "openai", alpha_up.base_url, keys=[KEY_ALPHA], max_retries=0)
    beta = admin.provider("beta", "openai", beta_up.base_url, keys=[KEY_BETA], max_retries=0)
    admin.mapping("steady", alpha["id"], "gpt-steady")
    doomed = admin.create_client_key(name="doomed")
    bystander = admin.create_client_key(name="bystander")["key"]
    assert len(_known_everywhere(urls, doomed["key"])) == 3
    assert len(_known_everywhere(urls, bystander)) == 3
    clients = {u: sdk(u, doomed["key"], timeout=10) for u in urls}
    timings: dict[str, dict[str, float]] = {}
    try:
        with Traffic(urls, bystander, "steady") as traffic:
            # 1. a new mapping
            assert [call(clients[u], u, "fresh").status for u in urls] == [404] * 3
            made = admin.mapping("fresh", alpha["id"], "gpt-fresh-a")
            since = time.monotonic()
            # the replica that made the change applies it before answering
            assert _served(clients[urls[0]], "fresh", "alpha", "gpt-fresh-a")
            timings["new mapping"] = converge(
                lambda u: _served(clients[u], "fresh", "alpha", "gpt-fresh-a"), urls, since)

            # 2. the same mapping changed to another provider and upstream model
            admin.patch_mapping(made["id"], provider_id=beta["id"],
                                provider_model_name="gpt-fresh-b")
            since = time.monotonic()
            assert _served(clients[urls[0]], "fresh", "beta", "gpt-fresh-b")
            timings["changed mapping"] = converge(
                lambda u: _served(clients[u], "fresh", "beta", "gpt-fresh-b"), urls, since)

            # 3. the client key deleted: refused everywhere, the other key unaffected
            admin.delete_client_key(doomed["id"])
            since = time.monotonic()
            assert call(clients[urls[0]], urls[0], "steady").status == 401
            timings["deleted key"] = converge(
                lambda u: call(clients[u], u, "steady").status == 401, urls, since)
            traffic.wait_for(2 * len(urls))
    finally:
        for client in clients.values():
            client.close()
        admin.close()
    print("propagation (s):", {k: {u[-5:]: round(t, 3) for u, t in v.items()}
                               for k, v in timings.items()})
    for change, per_replica in timings.items():
        assert set(per_replica) == set(urls), f"{change}: never reached {set(urls) - set(per_replica)}"
        slow = {u: t for u, t in per_replica.items() if t > PROPAGATION_LIMIT_S}
        assert not slow, f"{change} took longer than {PROPAGATION_LIMIT_S}s: {slow}"
    _assert_all_served(traffic.outcomes, urls)


def _served(client: openai.OpenAI, model: str, provider: str, upstream_model: str) -> bool:
    try:
        raw = client.chat.completions.with_raw_response.create(model=model, messages=USER)  # type: ignore[arg-type]
    except openai.NotFoundError:
        return False
    return (raw.headers.get("x-proxy-provider") == provider
            and raw.parse().model == upstream_model)


def _assert_all_served(outcomes: list[Outcome], urls: list[str]) -> None:
    failed = [o for o in outcomes if o.status != 200]
    assert not failed, failed[:5]
    assert {o.url for o in outcomes} == set(urls), "traffic did not reach every replica"


async def test_rpm_limit_is_exact_across_three_replicas(cluster: Cluster) -> None:
    n = 20
    urls = _urls(cluster)
    with ScaleAdmin(urls[0]) as admin:
        key = admin.create_client_key(name="rpm", rpm_limit=n)["key"]
    assert len(_known_everywhere(urls, key)) == 3
    clients = [openai.AsyncOpenAI(base_url=u + "/v1", api_key=key, max_retries=0, timeout=30)
               for u in urls]
    try:
        results = await asyncio.gather(*(
            _limited_call(clients[i % len(clients)]) for i in range(4 * n)))
    finally:
        for client in clients:
            await client.close()
    admitted = [h for status, h in results if status == 200]
    refused = [h for status, h in results if status == 429]
    assert len(admitted) == n, [s for s, _ in results]
    assert len(refused) == 3 * n, [s for s, _ in results]
    for headers in admitted:
        assert headers["x-ratelimit-limit-requests"] == str(n)
    for headers in refused:
        assert 1 <= int(headers["retry-after"]) <= 60, headers
        assert headers["x-ratelimit-limit-requests"] == str(n)
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert 0 < _seconds(headers["x-ratelimit-reset-requests"]) <= 60


async def _limited_call(client: openai.AsyncOpenAI) -> tuple[int, Mapping[str, str]]:
    try:
        raw = await client.chat.completions.with_raw_response.create(model="m", messages=USER)  # type: ignore[arg-type]
    except openai.RateLimitError as exc:
        assert exc.code == "rate_limit_exceeded", exc.body
        return exc.status_code, exc.response.headers
    raw.parse()
    return raw.status_code, raw.headers


def _seconds(value: str) -> float:
    assert value.endswith("s"), value
    return float(value[:-1])


def test_refusal_reports_when_the_oldest_request_leaves_the_window(cluster: Cluster) -> None:
    """The limiter's window is 60 s and not configurable through the environment, so the
    exact edge (admitted again the moment the oldest request leaves) is proved in
    tests/ratelimit with a 2 s window; here the server reports that moment correctly."""
    n, window = 5, 60.0
    urls = _urls(cluster)
    with ScaleAdmin(urls[0]) as admin:
        key = admin.create_client_key(name="edge", rpm_limit=n)["key"]
    assert len(_known_everywhere(urls, key)) == 3
    clients = [sdk(u, key, timeout=10) for u in urls]
    try:
        first_sent = time.monotonic()
        for i in range(n):
            assert call(clients[i % 3], urls[i % 3], "m").status == 200
            if i == 0:
                first_done = time.monotonic()
        for attempt in range(2):
            if attempt:
                time.sleep(1.5)
            sent = time.monotonic()
            with pytest.raises(openai.RateLimitError) as info:
                clients[2].chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
            done = time.monotonic()
            headers = info.value.response.headers
            reset = _seconds(headers["x-ratelimit-reset-requests"])
            # the oldest admission happened between first_sent and first_done
            earliest, latest = window - (done - first_sent), window - (sent - first_done)
            assert earliest - 0.05 <= reset <= latest + 0.05, (earliest, reset, latest)
            # Retry-After is the same wait rounded up (reset is printed to 1 ms)
            assert math.ceil(reset - 0.001) <= int(headers["retry-after"]) <= math.ceil(
                reset + 0.001), headers
            assert headers["x-ratelimit-remaining-requests"] == "0"
    finally:
        for client in clients:
            client.close()


def test_changes_propagate_within_2s_after_every_database_connection_is_cut(
        cluster: Cluster, database_url: str) -> None:
    """A database blip (every server connection terminated, the LISTEN ones included)
    neither stops serving from the cached configuration nor stops propagation."""
    urls = _urls(cluster)
    with ScaleAdmin(urls[0]) as admin:
        key = admin.create_client_key(name="blip")["key"]
        assert len(_known_everywhere(urls, key)) == 3
        with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
            cut = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()
        assert cut is not None and cut[0] >= 3, "expected pooled and LISTEN connections"
        clients = {u: sdk(u, key, timeout=10) for u in urls}
        try:
            assert [call(clients[u], u, "m").status for u in urls] == [200] * 3
            mock_id = next(p["id"] for p in admin.http.get("/admin/providers").json()["data"]
                           if p["name"] == "mock")
            admin.mapping("after-blip", mock_id, "mock-model")
            since = time.monotonic()
            timings = converge(lambda u: call(clients[u], u, "after-blip").status == 200,
                               urls, since)
        finally:
            for client in clients.values():
                client.close()
    print("propagation after the blip (s):", {u[-5:]: round(t, 3) for u, t in timings.items()})
    assert set(timings) == set(urls), timings
    assert max(timings.values()) <= PROPAGATION_LIMIT_S, timings
