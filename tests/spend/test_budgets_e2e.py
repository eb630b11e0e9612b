"""Budgets end to end, on real gateway processes: exactly N of 200 concurrent requests fit
a budget of N (in process, with Redis, across two replicas sharing Redis), settled spend
equals the audited costs, spend survives a gateway restart and a Redis restart, and
streams are charged (from the usage chunk, which the client sees only when it asked, and
when the client leaves mid-stream)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from proxy.crypto import generate_fernet_key
from tests.harness import ADMIN_KEY, ProxyProcess
from tests.ratelimit.private_redis import PrivateRedis
from tests.services import scratch_database

pytestmark = pytest.mark.timeout(120)

#: $1000 per million output tokens, nothing for input: a request of max_tokens=M that the
#: mock answers with exactly M tokens reserves and costs exactly M × $0.001
PRICING = {"input_per_mtok": 0, "output_per_mtok": 1000}
M = 20
PER_REQUEST = Decimal(M) * Decimal("0.001")
BODY = {"model": "priced", "max_tokens": M, "messages": [{"role": "user", "content": "hi"}]}
CONCURRENT = 200


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with scratch_database("test_spend") as url:
        yield url


@pytest.fixture(scope="module")
def redis_server() -> Iterator[PrivateRedis]:
    """A throwaway redis-server (never the shared one: this module restarts it)."""
    with PrivateRedis() as server:
        yield server


def _configure(proc: ProxyProcess) -> None:
    admin = proc.admin
    provider = admin.provider("mock-a", "mock", tokens=M, latency_ms=150)
    admin.mapping("priced", provider["id"], "gpt-4o-mini", pricing=PRICING)
    slow = admin.provider("mock-slow", "mock", tokens=400, chunk_delay_ms=20)
    admin.mapping("slow", slow["id"], "gpt-4o-mini", pricing=PRICING)


def _key(proc: ProxyProcess, budget: Decimal, **fields: Any) -> tuple[int, str]:
    created = proc.admin._ok(proc.admin.http.post("/admin/api-keys", json={
        "name": f"k-{uuid.uuid4().hex[:6]}", "budget_usd": float(budget), **fields}))
    return int(created["id"]), str(created["key"])


def _spend(proc: ProxyProcess, key_id: int) -> Decimal:
    got = proc.admin._ok(proc.admin.http.get(f"/admin/api-keys/{key_id}"))
    return Decimal(repr(got["spend_usd"]))


def _audited(proc: ProxyProcess, key_id: int, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        rows = proc.admin._ok(proc.admin.http.get(
            "/admin/audit", params={"api_key_id": str(key_id), "limit": "1000"}))["data"]
        if len(rows) >= count or time.monotonic() > deadline:
            return list(rows)
        time.sleep(0.2)


async def _burst(urls: list[str], key: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        calls = [http.post(urls[i % len(urls)] + "/v1/chat/completions", json=BODY,
                           headers={"Authorization": f"Bearer {key}"}) for i in range(count)]
        return list(await asyncio.gather(*calls))


def _exactly(replies: list[httpx.Response], admitted: int) -> None:
    statuses = [r.status_code for r in replies]
    assert statuses.count(200) == admitted, statuses
    refused = [r for r in replies if r.status_code != 200]
    assert all(r.status_code == 429 for r in refused)
    for r in refused:
        assert r.headers["x-should-retry"] == "false"
        err = r.json()["error"]
        assert (err["type"], err["code"]) == ("insufficient_quota", "budget_exceeded")


def _settled_equals_audited(procs: list[ProxyProcess], key_id: int, admitted: int) -> None:
    rows = _audited(procs[0], key_id, CONCURRENT)
    assert len(rows) == CONCURRENT
    costs = [Decimal(repr(r["cost_usd"])) for r in rows if r["status"] == 200]
    assert len(costs) == admitted
    assert all(r["cost_usd"] in (None, 0, 0.0) for r in rows if r["status"] == 429)
    assert all(r["attempts"] == 0 for r in rows if r["status"] == 429)  # no upstream called
    audited = sum(costs, Decimal(0))
    assert audited == PER_REQUEST * admitted
    deadline = time.monotonic() + 10  # replicas write their spend every second
    while _spend(procs[0], key_id) != audited and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _spend(procs[0], key_id).quantize(Decimal("0.01")) == audited.quantize(
        Decimal("0.01"))
    assert _spend(procs[0], key_id) == audited


def test_in_process_admits_exactly_what_fits(tmp_path: Path) -> None:
    with ProxyProcess(tmp_path) as proc:
        _configure(proc)
        admitted = 37
        key_id, key = _key(proc, PER_REQUEST * admitted)
        _exactly(asyncio.run(_burst([proc.url], key, CONCURRENT)), admitted)
        _settled_equals_audited([proc], key_id, admitted)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, pg_url: str,
             redis_server: PrivateRedis) -> Iterator[list[ProxyProcess]]:
    env = {"DATABASE_URL": pg_url, "REDIS_URL": redis_server.url,
           "ENCRYPTION_KEY": generate_fernet_key(), "ADMIN_API_KEY": ADMIN_KEY}
    tmp = tmp_path_factory.mktemp("replicas")
    procs = [ProxyProcess(tmp / f"r{i}", env=env) for i in range(2)]
    try:
        procs[0].start()
        _configure(procs[0])
        procs[1].start()
        yield procs
    finally:
        for proc in procs:
            proc.stop()


def test_with_redis_admits_exactly_what_fits(replicas: list[ProxyProcess]) -> None:
    admitted = 41
    key_id, key = _key(replicas[0], PER_REQUEST * admitted)
    _exactly(asyncio.run(_burst([replicas[0].url], key, CONCURRENT)), admitted)
    _settled_equals_audited(replicas, key_id, admitted)


def test_two_replicas_sharing_redis_admit_exactly_what_fits(
        replicas: list[ProxyProcess]) -> None:
    admitted = 53
    key_id, key = _key(replicas[0], PER_REQUEST * admitted)
    time.sleep(1.5)  # the other replica has loaded the new key (config poll)
    replies = asyncio.run(_burst([r.url for r in replicas], key, CONCURRENT))
    _exactly(replies, admitted)  # half the burst went to each replica: one shared budget
    _settled_equals_audited(replicas, key_id, admitted)
    # and the replica that came second sees the first one's spend at once
    with httpx.Client(timeout=30) as http:
        late = http.post(replicas[1].url + "/v1/chat/completions", json=BODY,
                         headers={"Authorization": f"Bearer {key}"})
    assert late.status_code == 429


def _calls(url: str, key: str, count: int) -> list[int]:
    with httpx.Client(timeout=30) as http:
        return [http.post(url + "/v1/chat/completions", json=BODY,
                          headers={"Authorization": f"Bearer {key}"}).status_code
                for _ in range(count)]


def test_spend_survives_a_gateway_restart_and_a_redis_restart(
        replicas: list[ProxyProcess], redis_server: PrivateRedis) -> None:
    key_id, key = _key(replicas[0], PER_REQUEST * 10, budget_period="total")
    assert _calls(replicas[0].url, key, 4) == [200] * 4
    before = _spend(replicas[0], key_id)
    assert before == PER_REQUEST * 4
    replicas[0].stop()  # flushes its spend on the way out
    replicas[0].start()
    assert _spend(replicas[0], key_id) == before
    assert _calls(replicas[0].url, key, 3) == [200] * 3
    time.sleep(1.5)  # written to the database
    redis_server.stop()
    redis_server.start()  # empty: the state is reloaded from the database
    statuses = _calls(replicas[0].url, key, 5)
    assert statuses == [200, 200, 200, 429, 429], statuses
    time.sleep(1.5)
    assert _spend(replicas[1], key_id) == PER_REQUEST * 10


def _stream(url: str, key: str, model: str, include_usage: bool,
            read_events: int | None = None) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"model": model, "stream": True, "max_tokens": 400 if model == "slow"
                            else M, "messages": [{"role": "user", "content": "hi"}]}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    events: list[dict[str, Any]] = []
    with httpx.Client(timeout=30) as http, http.stream(
            "POST", url + "/v1/chat/completions", json=body,
            headers={"Authorization": f"Bearer {key}"}) as resp:
        assert resp.status_code == 200
        assert "x-proxy-cost-usd" not in resp.headers  # known only at the end
        for line in resp.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(orjson.loads(line[6:]))
                if read_events is not None and len(events) >= read_events:
                    break  # leave mid-stream
    return events


def test_streams_are_charged_and_show_usage_only_when_asked(tmp_path: Path) -> None:
    with ProxyProcess(tmp_path) as proc:
        _configure(proc)
        key_id, key = _key(proc, Decimal(100))
        plain = _stream(proc.url, key, "priced", include_usage=False)
        assert not any(e.get("usage") for e in plain)
        asked = _stream(proc.url, key, "priced", include_usage=True)
        assert asked[-1]["usage"]["completion_tokens"] == M and asked[-1]["choices"] == []
        left = _stream(proc.url, key, "slow", include_usage=False, read_events=5)
        assert len(left) == 5
        rows = _audited(proc, key_id, 3)
        deadline = time.monotonic() + 10
        while len([r for r in rows if r["status"] == 499]) < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
            rows = _audited(proc, key_id, 3)
        by_status = sorted((r["status"], r["cost_usd"]) for r in rows)
        assert [s for s, _ in by_status] == [200, 200, 499], by_status
        assert by_status[0][1] == by_status[1][1] == float(PER_REQUEST)  # from the usage chunk
        left_cost = Decimal(repr(by_status[2][1]))
        # the client got ~5 chunks before leaving; it pays for at least those, and far
        # less than the 400-token answer
        assert Decimal("0.005") <= left_cost < Decimal("0.4"), left_cost
        time.sleep(1.5)
        assert _spend(proc, key_id) == PER_REQUEST * 2 + left_cost
