"""The rate-limiter contract, run on the in-process and on the Redis backend."""

from __future__ import annotations

import asyncio
import math

import pytest

from proxy.ratelimit import SCOPES, TOKENS_SCOPE, Limit
from tests.ratelimit.conftest import Backend

pytestmark = pytest.mark.timeout(30)


async def test_admits_n_then_refuses_with_retry_after(backend: Backend) -> None:
    lim = backend.make()
    W = backend.window
    rule = [Limit("key", "k1", 3)]
    start = await backend.now()
    for expected_remaining in (2, 1, 0):
        d = await lim.acquire(rule)
        assert d.allowed and d.scope is None and d.retry_after == 0
        assert (d.limit, d.remaining) == (3, expected_remaining)
    await backend.advance(0.25 * W)
    refused = await lim.acquire(rule)
    elapsed = await backend.now() - start
    assert not refused.allowed and refused.scope == "key"
    assert refused.remaining == 0
    assert refused.retry_after == pytest.approx(W - elapsed, abs=backend.tol)
    await backend.advance(refused.retry_after - 2 * backend.tol - 1e-6)
    assert not (await lim.acquire(rule)).allowed, "admitted before retry_after"
    await backend.advance(3 * backend.tol + 1e-6)
    assert (await lim.acquire(rule)).allowed, "still refused after retry_after"


async def test_each_scope_limits_independently(backend: Backend) -> None:
    lim = backend.make()
    for tight in SCOPES:
        rules = [Limit(s, f"{s}-{tight}", 2 if s == tight else 100) for s in SCOPES]
        assert (await lim.acquire(rules)).allowed
        assert (await lim.acquire(rules)).allowed
        d = await lim.acquire(rules)
        assert not d.allowed and d.scope == tight
        other = [Limit(r.scope, "other", 2) if r.scope == tight else r for r in rules]
        assert (await lim.acquire(other)).allowed, f"another {tight} identity is separate"
        alone = [r for r in rules if r.scope != tight]
        assert (await lim.acquire(alone)).allowed, f"only {tight} is exhausted"


async def test_refused_request_consumes_nothing(backend: Backend) -> None:
    lim = backend.make()
    tenant, key = Limit("tenant", "acme", 5), Limit("key", "k1", 2)
    assert (await lim.acquire([tenant, key])).allowed
    assert (await lim.acquire([tenant, key])).allowed
    for _ in range(4):
        d = await lim.acquire([tenant, key])
        assert not d.allowed and d.scope == "key"
    admitted = [(await lim.acquire([tenant])).allowed for _ in range(4)]
    assert admitted == [True, True, True, False], "refusals must not count against the tenant"


async def test_refused_by_tokens_consumes_no_request(backend: Backend) -> None:
    lim = backend.make()
    rpm, tpm = Limit("key", "k1", 3), Limit("key", "k1", 10)
    await lim.charge_tokens(tpm, 10)
    for _ in range(5):
        d = await lim.acquire([rpm], tpm)
        assert not d.allowed and d.scope == TOKENS_SCOPE
    assert [(await lim.acquire([rpm])).allowed for _ in range(4)] == [True, True, True, False]


async def test_unlimited_scopes_are_skipped(backend: Backend) -> None:
    lim = backend.make()
    rules = [Limit("global", "*", 0), Limit("tenant", "t", -1), Limit("ip", "10.0.0.1", 0)]
    for _ in range(50):
        d = await lim.acquire(rules, Limit("key", "k", 0))
        assert d.allowed and d.limit == 0 and d.tokens_limit is None
    d = await lim.acquire([*rules, Limit("key", "k", 7)])
    assert d.allowed and (d.limit, d.remaining) == (7, 6)


async def test_headers_describe_the_most_restrictive_scope(backend: Backend) -> None:
    lim = backend.make()
    W = backend.window
    rules = [Limit("global", "*", 100), Limit("key", "k1", 4), Limit("ip", "1.2.3.4", 10)]
    d = await lim.acquire(rules)
    assert (d.limit, d.remaining) == (4, 3)
    assert d.reset == pytest.approx(W, abs=backend.tol)
    await backend.advance(0.5 * W)
    d = await lim.acquire(rules)
    assert (d.limit, d.remaining) == (4, 2)
    assert d.reset == pytest.approx(0.5 * W, abs=2 * backend.tol), "oldest request leaves first"


async def test_window_slides_rather_than_resets(backend: Backend) -> None:
    lim = backend.make()
    W = backend.window
    rule = [Limit("ip", "10.1.1.1", 4)]
    assert all([(await lim.acquire(rule)).allowed for _ in range(2)])
    await backend.advance(0.5 * W)
    assert all([(await lim.acquire(rule)).allowed for _ in range(2)])
    assert not (await lim.acquire(rule)).allowed
    await backend.advance(0.5 * W + 2 * backend.tol)
    # the first two left the window, the last two have not
    assert [(await lim.acquire(rule)).allowed for _ in range(3)] == [True, True, False]


async def test_no_double_burst_at_a_window_boundary(backend: Backend) -> None:
    lim = backend.make()
    W, n = backend.window, 5
    rule = [Limit("global", "*", n)]
    now = await backend.now()
    boundary = (math.floor(now / W) + 1) * W  # where a fixed window would reset
    if boundary - now < 0.2 * W:
        boundary += W
    await backend.advance(boundary - 0.1 * W - now)
    before = [(await lim.acquire(rule)).allowed for _ in range(n)]
    await backend.advance(0.2 * W)  # just after the boundary
    after = [await lim.acquire(rule) for _ in range(n)]
    assert before == [True] * n
    assert [d.allowed for d in after] == [False] * n, "2N burst across the boundary"
    assert after[0].retry_after == pytest.approx(0.8 * W, abs=3 * backend.tol)


async def test_at_most_n_in_any_rolling_window(backend: Backend) -> None:
    lim = backend.make()
    W, n = backend.window, 4
    rule = [Limit("tenant", "rolling", n)]
    admitted: list[float] = []
    for _ in range(22):  # 2.2 windows in steps of 0.1 W, three tries per step
        for _ in range(3):
            if (await lim.acquire(rule)).allowed:
                admitted.append(await backend.now())
        await backend.advance(0.1 * W)
    assert len(admitted) >= 2 * n, "the limiter must admit again as the window slides"
    span = W - 2 * backend.tol  # measured times lag the script's clock a little
    for i, t in enumerate(admitted):
        inside = sum(1 for u in admitted[i:] if u - t < span)
        assert inside <= n, f"{inside} admissions within {span:.3f}s from {t}"


async def test_charged_tokens_refuse_the_next_request_then_recover(backend: Backend) -> None:
    lim = backend.make()
    W = backend.window
    rpm, tpm = [Limit("key", "k1", 1000)], Limit("key", "k1", 100)
    d = await lim.acquire(rpm, tpm)
    assert d.allowed and (d.tokens_limit, d.tokens_remaining) == (100, 100)
    await lim.charge_tokens(tpm, 60)
    d = await lim.acquire(rpm, tpm)
    assert d.allowed and d.tokens_remaining == 40, "checked, never consumed by acquire"
    assert (await lim.acquire(rpm, tpm)).tokens_remaining == 40
    await backend.advance(0.5 * W)
    await lim.charge_tokens(tpm, 50)
    d = await lim.acquire(rpm, tpm)
    assert not d.allowed and d.scope == TOKENS_SCOPE and d.tokens_remaining == 0
    bucket = W / 60
    # admitted again when the first charge's bucket leaves the window
    assert 0.5 * W - 2 * backend.tol <= d.retry_after <= 0.5 * W + bucket + 2 * backend.tol
    await backend.advance(d.retry_after + 2 * backend.tol)
    d = await lim.acquire(rpm, tpm)
    assert d.allowed and d.tokens_remaining == 50
    await backend.advance(0.5 * W + bucket + 2 * backend.tol)
    d = await lim.acquire(rpm, tpm)
    assert d.allowed and d.tokens_remaining == 100 and d.tokens_reset == 0


async def test_tokens_are_tracked_per_identity(backend: Backend) -> None:
    lim = backend.make()
    a, b = Limit("key", "a", 10), Limit("key", "b", 10)
    await lim.charge_tokens(a, 25)
    assert not (await lim.acquire([], a)).allowed
    assert (await lim.acquire([], b)).allowed
    await lim.charge_tokens(Limit("key", "b", 0), 1000)  # unlimited: nothing recorded
    assert (await lim.acquire([], b)).tokens_remaining == 10


async def test_concurrent_acquires_from_two_instances_admit_exactly_n(backend: Backend) -> None:
    first, second = backend.make(), backend.make()
    n = 25
    rules = [Limit("global", "*", 1000), Limit("key", "race", n), Limit("ip", "9.9.9.9", 1000)]
    decisions = await asyncio.gather(
        *(lim.acquire(rules) for _ in range(2 * n) for lim in (first, second))
    )
    assert len(decisions) == 4 * n
    assert sum(d.allowed for d in decisions) == n
    assert all(d.scope == "key" and d.retry_after > 0 for d in decisions if not d.allowed)
