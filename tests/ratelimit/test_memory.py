"""In-process specifics: identities that went quiet are forgotten (bounded memory)."""

from __future__ import annotations

import pytest

from proxy.ratelimit import Limit, MemoryRateLimiter
from tests.ratelimit.conftest import FakeClock

pytestmark = pytest.mark.timeout(10)


async def test_idle_identities_are_dropped_after_a_window() -> None:
    clock = FakeClock()
    lim = MemoryRateLimiter(window=60.0, clock=clock)
    for i in range(1000):
        await lim.acquire([Limit("ip", f"10.0.{i // 256}.{i % 256}", 5)], Limit("key", f"k{i}", 9))
        await lim.charge_tokens(Limit("key", f"k{i}", 9), 3)
    assert lim.tracked() == 2000
    clock.now += 30
    await lim.acquire([Limit("ip", "busy", 5)])
    assert lim.tracked() == 2001, "identities inside the window are kept"
    clock.now += 31 + 60 / 60  # past the window and the last token bucket
    await lim.acquire([Limit("ip", "busy", 5)])
    assert lim.tracked() == 1, "only the identity used within the window remains"


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryRateLimiter(window=0)
