"""The audit trail under load on the real server: nothing lost at high concurrency; a
queue that overflows drops (and counts) records while every request is still served."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import httpx
import pytest

from .conftest import (
    ProviderSeed,
    StartProxy,
    eventually,
    fetch_audit,
    parse_prometheus,
    total,
    value,
)

pytestmark = pytest.mark.timeout(120)

TOTAL = 2000
CONCURRENCY = 64


async def _blast(url: str, key: str, prefix: str, n: int = TOTAL) -> Counter[int]:
    """``n`` chat requests (every 4th streamed) from ``CONCURRENCY`` concurrent clients."""
    statuses: Counter[int] = Counter()
    next_index = iter(range(n))
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=30.0)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as http:

        async def worker() -> None:
            for i in next_index:
                async with http.post(
                    "/v1/chat/completions",
                    json={"model": "fast", "messages": [{"role": "user", "content": f"q{i}"}],
                          "stream": i % 4 == 0},
                    headers={"Authorization": f"Bearer {key}", "x-request-id": f"{prefix}-{i}"},
                ) as resp:
                    await resp.read()
                    statuses[resp.status] += 1

        async with asyncio.TaskGroup() as group:
            for _ in range(CONCURRENCY):
                group.create_task(worker())
    return statuses


def _providers() -> list[ProviderSeed]:
    return [ProviderSeed("mock", config={"response": "ok", "max_concurrency": 256,
                                         "queue_size": 4096},
                         aliases=(("fast", "mock-fast", 0),))]


async def test_two_thousand_concurrent_requests_two_thousand_audit_records(
    start_proxy: StartProxy,
) -> None:
    proxy, seeded = start_proxy(_providers())
    statuses = await _blast(proxy.url, seeded.client_keys["client"], "load")
    assert statuses == Counter({200: TOTAL})

    async def all_written() -> bool:
        return len(await fetch_audit(seeded.database_url)) >= TOTAL

    await eventually(all_written, within=30, interval=0.2)
    records = await fetch_audit(seeded.database_url)
    ids = [r.request_id for r in records]
    assert len(ids) == TOTAL and set(ids) == {f"load-{i}" for i in range(TOTAL)}
    assert all(r.status == 200 and r.provider == "mock" for r in records)
    assert sum(r.stream for r in records) == TOTAL // 4
    async with httpx.AsyncClient(base_url=proxy.url, timeout=10.0) as http:
        samples = parse_prometheus((await http.get("/metrics")).text)
    assert total(samples, "proxy_audit_dropped_total") == 0
    assert value(samples, "proxy_audit_records_total", outcome="written") == TOTAL


async def test_full_audit_queue_drops_with_counter_and_keeps_serving(
    start_proxy: StartProxy,
) -> None:
    proxy, seeded = start_proxy(_providers(), env={"AUDIT_QUEUE_SIZE": "1"})
    key = seeded.client_keys["client"]
    statuses = await _blast(proxy.url, key, "burst", n=1000)
    assert statuses == Counter({200: 1000})  # overflow never touches the client

    async with httpx.AsyncClient(base_url=proxy.url, timeout=10.0) as http:
        async def accounted() -> bool:
            samples = parse_prometheus((await http.get("/metrics")).text)
            dropped = value(samples, "proxy_audit_dropped_total")
            return dropped + len(await fetch_audit(seeded.database_url)) >= 1000

        await eventually(accounted, within=30, interval=0.2)
        samples = parse_prometheus((await http.get("/metrics")).text)
        dropped = value(samples, "proxy_audit_dropped_total")
        written = len(await fetch_audit(seeded.database_url))
        assert dropped > 0 and written > 0
        assert dropped + written == 1000  # every request either audited or counted as dropped
        resp = await http.post("/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                               json={"model": "fast", "messages": [{"role": "user", "content": "x"}]})
        assert resp.status_code == 200
    assert "audit queue full" in proxy.logs()


async def test_shutdown_right_after_traffic_writes_every_queued_record(
    start_proxy: StartProxy,
) -> None:
    proxy, seeded = start_proxy(_providers())
    statuses = await _blast(proxy.url, seeded.client_keys["client"], "stop", n=500)
    assert statuses == Counter({200: 500})
    proxy.stop()  # SIGTERM at once: the writer is cancelled, flush() writes the rest
    assert proxy.proc is not None and proxy.proc.returncode == 0
    ids = {r.request_id for r in await fetch_audit(seeded.database_url)}
    assert ids == {f"stop-{i}" for i in range(500)}
