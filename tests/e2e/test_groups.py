"""Routing groups end to end: members of one alias sharing an ``order_index``, spread by
weight, away from an open circuit and from a member whose calls pile up."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

pytestmark = pytest.mark.timeout(120)

KEY = "sk-upstream-groups-aaaa1111"
BODY = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys={KEY}) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream
            ) -> Iterator[ProxyProcess]:
    tmp: Path = tmp_path_factory.mktemp("groups")
    with ProxyProcess(tmp) as proc:
        admin = proc.admin
        for i, weight in enumerate((1, 2, 3)):
            mock = admin.provider(f"mock-{weight}", "mock", response="ok")
            admin.mapping("weighted", mock["id"], "m", order=0, weight=weight)
            if i == 0:
                admin.mapping("weighted", mock["id"], "m", order=1)  # after the group
        for name, order in (("healthy-a", 0), ("broken", 0), ("healthy-b", 0)):
            up = admin.provider(name, "openai", upstream.base_url, keys=[KEY], max_retries=0,
                                failure_threshold=1, recovery_timeout=600)
            admin.mapping("circuit", up["id"], f"{name}-model", order=order)
        for name in ("fast", "slow"):
            up = admin.provider(name, "openai", upstream.base_url, keys=[KEY], max_retries=0)
            admin.mapping("loaded", up["id"], f"{name}-model", order=0)
        proc.client_key_value = admin.client_key("groups")  # type: ignore[attr-defined]
        yield proc


def _client(gateway: ProxyProcess) -> httpx.Client:
    return httpx.Client(base_url=gateway.url, timeout=20, headers={
        "Authorization": f"Bearer {gateway.client_key_value}"})  # type: ignore[attr-defined]


def test_weights_1_2_3_hold_over_3000_sequential_requests(gateway: ProxyProcess) -> None:
    counts: Counter[str] = Counter()
    with _client(gateway) as http:
        for _ in range(3000):
            resp = http.post("/v1/chat/completions", json={**BODY, "model": "weighted"})
            assert resp.status_code == 200, resp.text
            assert resp.headers["x-proxy-attempts"] == "1"
            counts[resp.headers["x-proxy-provider"]] += 1
    for weight in (1, 2, 3):
        share = counts[f"mock-{weight}"] / 3000
        assert abs(share - weight / 6) <= 0.05 * weight / 6, counts


def test_open_circuit_member_gets_none(gateway: ProxyProcess, upstream: FakeUpstream) -> None:
    upstream.add_fault(model="broken-model", status=500, times=-1)
    try:
        served: Counter[str] = Counter()
        with _client(gateway) as http:
            for _ in range(200):
                resp = http.post("/v1/chat/completions", json={**BODY, "model": "circuit"})
                assert resp.status_code == 200, resp.text  # a failure moves within the group
                served[resp.headers["x-proxy-provider"]] += 1
        assert gateway.admin.provider_health("broken")["circuit"]["state"] == "open"
        upstream.reset_stats()
        with _client(gateway) as http:
            for _ in range(200):
                resp = http.post("/v1/chat/completions", json={**BODY, "model": "circuit"})
                assert resp.headers["x-proxy-attempts"] == "1"
                served[resp.headers["x-proxy-provider"]] += 1
        models = Counter(r.json["model"] for r in upstream.requests)
        assert models["broken-model"] == 0 and sum(models.values()) == 200
        assert served["broken"] == 0 and served["healthy-a"] > 50 and served["healthy-b"] > 50
    finally:
        upstream.clear_faults()


def test_slow_member_gets_less_than_its_weight_under_64_clients(
    gateway: ProxyProcess, upstream: FakeUpstream
) -> None:
    upstream.add_fault(model="slow-model", delay_ms=250, times=-1)
    served: Counter[str] = Counter()

    async def client(http: httpx.AsyncClient) -> None:
        for _ in range(8):
            resp = await http.post("/v1/chat/completions", json={**BODY, "model": "loaded"})
            assert resp.status_code == 200, resp.text
            served[resp.headers["x-proxy-provider"]] += 1

    async def run() -> None:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30, limits=limits, headers={
                "Authorization": f"Bearer {gateway.client_key_value}"}) as http:  # type: ignore[attr-defined]
            await asyncio.gather(*(client(http) for _ in range(64)))

    try:
        asyncio.run(run())
    finally:
        upstream.clear_faults()
    total = served["fast"] + served["slow"]
    assert total == 512
    # equal weights: an idle pair would split 50/50; the slow member's calls pile up
    assert served["slow"] / total < 0.35, served
    health = {p["name"]: p for p in gateway.admin.health()["providers"]}
    assert "in_flight" in health["slow"] and "in_flight" in health["fast"]
