"""Hostile input: thousands of generated bodies (``fuzz.py``), each invalid by
construction, to every ingress through every provider type. Every one must be a 4xx in
the ingress's error shape — never a 5xx — no worker may restart or crash, no circuit
may open, and a normal request is answered after each batch.

Deterministic (fixed seed); one gateway for the module; requests go concurrently.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from .conftest import PROVIDERS, Gateway
from .fuzz import Case, cases
from .ingresses import INGRESSES, Ingress

pytestmark = pytest.mark.timeout(240)

SEED = 20261206
PER_PAIR = 90  # x 6 ingresses x 4 providers = 2,160 bodies
CONCURRENCY = 24


def _headers(gateway: Gateway, ingress: Ingress, case: Case | None) -> dict[str, str | bytes]:
    headers: dict[str, str | bytes] = {"Authorization": f"Bearer {gateway.key}",
                                       "content-type": "application/json",
                                       **ingress.headers}
    if case is not None:
        headers.update(case.headers)
        if case.kind == "nul":  # and a non-ASCII request id, which must simply be ignored
            headers["x-request-id"] = "requête-é".encode()
    return headers


async def _send(http: httpx.AsyncClient, gateway: Gateway, ingress: Ingress,
                case: Case) -> tuple[Case, int, str]:
    resp = await http.post(ingress.path, content=case.body,
                           headers=_headers(gateway, ingress, case))  # type: ignore[arg-type]
    return case, resp.status_code, resp.text


def _assert_error_shape(ingress: Ingress, text: str) -> None:
    import orjson

    body = orjson.loads(text)
    if ingress.path.startswith("/v1/messages"):  # Anthropic's error shape
        assert body["type"] == "error" and body["error"]["message"], text
    else:
        assert body["error"]["message"], text


async def _normal(http: httpx.AsyncClient, gateway: Gateway, ingress: Ingress,
                  alias: str) -> httpx.Response:
    return await http.post(ingress.path, json=ingress.valid(alias),
                           headers=_headers(gateway, ingress, None))  # type: ignore[arg-type]


@pytest.mark.parametrize("ingress", INGRESSES, ids=lambda i: i.name)
async def test_the_full_sample_is_accepted(gateway: Gateway, ingress: Ingress) -> None:
    """The fuzz bodies break one thing each in this sample: it must be valid itself."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        for alias, kind in PROVIDERS.items():
            if kind not in ingress.serves:
                continue
            resp = await http.post(ingress.path, json={**ingress.sample, **ingress.valid(alias)},
                                   headers=_headers(gateway, ingress, None))  # type: ignore[arg-type]
            assert resp.status_code == 200, (alias, resp.text[:500])


@pytest.mark.parametrize("ingress", INGRESSES, ids=lambda i: i.name)
async def test_hostile_bodies_are_4xx_and_hurt_no_one(gateway: Gateway, ingress: Ingress) -> None:
    failures: list[str] = []
    kinds: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30, limits=limits) as http:
        for alias, kind in PROVIDERS.items():
            batch = cases(ingress, alias, PER_PAIR, SEED)
            results = await asyncio.gather(*(_send(http, gateway, ingress, c) for c in batch))
            for case, status, text in results:
                kinds[case.kind] += 1
                if not 400 <= status < 500:
                    failures.append(f"{alias} {case.kind} {case.path}: {status} {text[:200]}"
                                    f" <- {case.body[:300]!r}")
                else:
                    _assert_error_shape(ingress, text)
            # after each batch, the provider answers a normal request
            if kind in ingress.serves:
                ok = await _normal(http, gateway, ingress, alias)
                assert ok.status_code == 200, (alias, ok.text[:300])
    assert not failures, f"{len(failures)} bodies were not a 4xx:\n" + "\n".join(failures[:25])
    assert sum(kinds.values()) == PER_PAIR * len(PROVIDERS)
    for alias in PROVIDERS:
        health = gateway.health(alias)
        assert health["state"] == "running", health
        assert (health["restarts"], health["crashes"]) == (0, 0), health
        assert health["circuit"]["state"] == "closed", health  # type: ignore[index]
