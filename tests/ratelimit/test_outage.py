"""The outage rule shared by the rate limiter and the budgets, on an injected clock."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from proxy.ratelimit.outage import DOWN_AFTER, RedisOutage
from tests.ratelimit.conftest import FakeClock

pytestmark = pytest.mark.timeout(10)


def _outage(clock: FakeClock) -> RedisOutage:
    return RedisOutage(timeout=0.25, wait=2.0, backoff=1.0, clock=clock)


@pytest.mark.parametrize("exc", [TimeoutError(), RedisTimeoutError()])
def test_timeouts_declare_an_outage_only_several_in_a_row(exc: BaseException) -> None:
    outage = _outage(FakeClock())
    for _ in range(DOWN_AFTER - 1):
        assert outage.deadline() == 2.0
        assert not outage.failed(exc, probe=False)
    assert outage.succeeded(probe=False) is False  # an answer starts the count again
    for _ in range(DOWN_AFTER - 1):
        assert not outage.failed(exc, probe=False)
    assert outage.failed(exc, probe=False) and outage.down


def test_a_connection_failure_is_an_outage_at_once() -> None:
    outage = _outage(FakeClock())
    assert outage.failed(RedisConnectionError(), probe=False) and outage.down


def test_one_probe_per_backoff_under_the_short_timeout_ends_the_outage() -> None:
    clock = FakeClock()
    outage = _outage(clock)
    outage.failed(OSError(), probe=False)
    assert outage.deadline() is None
    clock.now += 1.0
    assert outage.deadline() == 0.25
    assert outage.deadline() is None, "a second probe while the first runs"
    assert not outage.succeeded(probe=False), "a call from before the outage ended it"
    outage.abandoned(probe=True)  # the probe was cancelled: the next call probes
    assert outage.deadline() == 0.25
    assert not outage.failed(TimeoutError(), probe=True)
    assert outage.deadline() is None
    clock.now += 1.0
    assert outage.deadline() == 0.25
    assert outage.succeeded(probe=True) and not outage.down
    assert outage.deadline() == 2.0
