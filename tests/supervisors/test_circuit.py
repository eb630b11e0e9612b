from __future__ import annotations

import pytest

from supervisors.circuit import CircuitBreaker, CircuitState
from tests.supervisors import FakeClock

pytestmark = pytest.mark.timeout(5)

STATES = {"C": CircuitState.CLOSED, "O": CircuitState.OPEN, "H": CircuitState.HALF_OPEN}


def run(breaker: CircuitBreaker, clock: FakeClock, script: str) -> None:
    """Play ``script``: tokens ``action=S``, where S is the state expected right after
    the action (C closed, O open, H half-open).

    Actions: ``fail``, ``ok``, ``release``, ``allow`` (must be admitted), ``deny`` (must be
    refused), ``+N`` (advance the clock N seconds).
    """
    for number, token in enumerate(script.split()):
        action, expected = token.split("=")
        where = f"step {number}: {token}"
        if action == "fail":
            breaker.record_failure()
        elif action == "ok":
            breaker.record_success()
        elif action == "release":
            breaker.release()
        elif action == "allow":
            assert breaker.allow(), where
        elif action == "deny":
            assert not breaker.allow(), where
        elif action.startswith("+"):
            clock.advance(float(action[1:]))
        else:
            raise AssertionError(f"unknown action in {where}")
        assert breaker.state is STATES[expected], where


TRIP = "fail=C fail=C fail=O"  # threshold 3
SCENARIOS = {
    "opens after threshold consecutive failures": f"{TRIP} deny=O",
    "a success resets the consecutive count": "fail=C fail=C ok=C fail=C fail=C fail=O",
    "half-open once recovery has elapsed, not before": f"{TRIP} +9.9=O deny=O +0.1=H",
    "one probe only while half-open": f"{TRIP} +10=H allow=H deny=H deny=H",
    "a successful probe closes": f"{TRIP} +10=H allow=H ok=C allow=C allow=C",
    "a failed probe re-opens with recovery doubled": (
        f"{TRIP} +10=H allow=H fail=O +19.9=O deny=O +0.1=H allow=H fail=O +39.9=O +0.1=H"
    ),
    "closing resets the grown recovery": (
        f"{TRIP} +10=H allow=H fail=O +20=H allow=H ok=C {TRIP} +10=H"
    ),
    "a released probe frees the slot without closing": (
        f"{TRIP} +10=H allow=H deny=H release=H allow=H ok=C"
    ),
    "release while closed changes nothing": "fail=C release=C fail=C fail=O",
    "stragglers while open change neither state nor timing": f"{TRIP} +5=O ok=O fail=O +5=H",
    "a failure while half-open re-opens even without allow": f"{TRIP} +10=H fail=O",
}


@pytest.mark.parametrize("script", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_breaker_scenarios(script: str) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(3, 10.0, clock=clock)
    run(breaker, clock, script)


def test_recovery_growth_is_capped() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 10.0, max_recovery_timeout=35.0, clock=clock)
    breaker.record_failure()
    expected = [10.0, 20.0, 35.0, 35.0]
    for recovery in expected:
        assert breaker.retry_after() == pytest.approx(recovery)
        clock.advance(recovery)
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert breaker.snapshot()["open_count"] == len(expected) + 1


def test_several_half_open_probes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 5.0, half_open_max=2, clock=clock)
    breaker.record_failure()
    clock.advance(5.0)
    assert [breaker.allow() for _ in range(3)] == [True, True, False]
    breaker.release()
    assert breaker.allow()


def test_retry_after_counts_down_while_open() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(2, 30.0, clock=clock)
    assert breaker.retry_after() == 0.0
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.retry_after() == pytest.approx(30.0)
    clock.advance(12.5)
    assert breaker.retry_after() == pytest.approx(17.5)
    clock.advance(17.5)
    assert breaker.retry_after() == 0.0
    assert breaker.state is CircuitState.HALF_OPEN


@pytest.mark.parametrize("threshold", [0, -1])
def test_non_positive_threshold_disables_the_breaker(threshold: int) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold, 10.0, clock=clock)
    for _ in range(100):
        breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()
    assert breaker.retry_after() == 0.0


def test_reconfigure_keeps_an_open_circuit_open_with_the_new_recovery() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(2, 30.0, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.advance(5.0)
    breaker.reconfigure(failure_threshold=4, recovery_timeout=10.0)
    assert breaker.state is CircuitState.OPEN
    assert breaker.retry_after() == pytest.approx(5.0)
    clock.advance(5.0)
    assert breaker.allow()
    breaker.record_success()
    for _ in range(3):
        breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED  # new threshold is 4
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN


def test_reconfigure_keeps_the_failure_count() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(5, 10.0, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    breaker.reconfigure(failure_threshold=3, recovery_timeout=10.0)
    assert breaker.state is CircuitState.CLOSED  # no transition without an event
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN


def test_disabling_an_open_breaker_closes_it() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 10.0, clock=clock)
    breaker.record_failure()
    breaker.reconfigure(failure_threshold=0, recovery_timeout=10.0)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()


def test_snapshot_reports_state_counters_and_wait() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(2, 30.0, clock=clock)
    breaker.record_failure()
    assert breaker.snapshot() == {
        "state": "closed",
        "consecutive_failures": 1,
        "open_count": 0,
        "retry_after": 0.0,
        "recovery_timeout": 30.0,
    }
    breaker.record_failure()
    clock.advance(10.0)
    assert breaker.snapshot() == {
        "state": "open",
        "consecutive_failures": 2,
        "open_count": 1,
        "retry_after": 20.0,
        "recovery_timeout": 30.0,
    }
    clock.advance(20.0)
    assert breaker.snapshot()["state"] == "half_open"


def test_state_values_match_the_metric() -> None:
    assert [int(state) for state in STATES.values()] == [0, 1, 2]


@pytest.mark.parametrize(
    "kwargs", [{"half_open_max": 0}, {"recovery_timeout": -1.0}], ids=["no-probes", "negative"]
)
def test_invalid_settings_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]


def test_force_open_opens_for_the_given_time_and_keeps_a_longer_one() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(3, 10.0, clock=clock)
    breaker.force_open(4.0)
    assert breaker.state is CircuitState.OPEN and not breaker.allow()
    assert breaker.retry_after() == pytest.approx(4.0)
    breaker.force_open(1.0)  # shorter: the longer open period stays
    assert breaker.retry_after() == pytest.approx(4.0)
    clock.advance(4.0)
    assert breaker.state is CircuitState.HALF_OPEN and breaker.allow()
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    disabled = CircuitBreaker(0, 10.0, clock=clock)
    disabled.force_open(5.0)
    assert disabled.allow()
