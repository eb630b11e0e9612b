from __future__ import annotations

import pytest

from supervisors.circuit import CircuitBreaker, CircuitState, Ticket
from tests.supervisors import FakeClock

pytestmark = pytest.mark.timeout(5)

STATES = {"C": CircuitState.CLOSED, "O": CircuitState.OPEN, "H": CircuitState.HALF_OPEN}


def run(breaker: CircuitBreaker, clock: FakeClock, script: str) -> None:
    """Play ``script``: tokens ``action=S``, where S is the state expected right after
    the action (C closed, O open, H half-open).

    Actions: ``fail``, ``ok``, ``release``, ``allow`` (must be admitted), ``deny`` (must be
    refused), ``+N`` (advance the clock N seconds). ``allow:NAME`` keeps the ticket under
    NAME, and ``fail:NAME``, ``ok:NAME``, ``release:NAME`` report that call's outcome
    (without a name, an outcome is reported without a ticket).
    """
    tickets: dict[str, Ticket] = {}
    for number, token in enumerate(script.split()):
        action, expected = token.split("=")
        action, _, name = action.partition(":")
        where = f"step {number}: {token}"
        ticket = tickets[name] if name and action != "allow" else None
        if action == "fail":
            breaker.record_failure(ticket)
        elif action == "ok":
            breaker.record_success(ticket)
        elif action == "release":
            breaker.release(ticket)
        elif action == "allow":
            admitted = breaker.allow()
            assert admitted is not None, where
            if name:
                tickets[name] = admitted
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
    "a failed probe re-opens with recovery doubled, at most twice the base": (
        f"{TRIP} +10=H allow=H fail=O +19.9=O deny=O +0.1=H allow=H fail=O +19.9=O +0.1=H"
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
    # probe ownership: the outcome of a call admitted before the circuit opened
    "a straggler's success during half-open does not close": (
        f"allow:s=C {TRIP} +10=H allow:p=H ok:s=H deny=H ok:p=C"
    ),
    "a straggler's failure during half-open does not re-open": (
        f"allow:s=C {TRIP} +10=H allow:p=H fail:s=H deny=H ok:p=C"
    ),
    "a straggler's release does not free the probe's slot": (
        f"allow:s=C {TRIP} +10=H allow:p=H release:s=H deny=H release:p=H allow:q=H fail:q=O"
    ),
    "a probe of an earlier half-open period decides nothing": (
        f"{TRIP} +10=H allow:p=H fail=O +20=H allow:q=H ok:p=H fail:p=H deny=H ok:q=C"
    ),
    "a straggler's failure after the circuit closed again is not counted": (
        f"allow:s=C {TRIP} +10=H allow:p=H ok:p=C fail=C fail=C fail:s=C fail=O"
    ),
    "calls of the current closed period count": (
        "allow:a=C allow:b=C allow:c=C fail:a=C fail:b=C fail:c=O"
    ),
}


@pytest.mark.parametrize("script", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_breaker_scenarios(script: str) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(3, 10.0, clock=clock, rng=lambda: 0.0)
    run(breaker, clock, script)


def test_recovery_growth_is_capped() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 10.0, max_recovery_factor=3.5, clock=clock, rng=lambda: 0.0)
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
    assert [breaker.allow() is not None for _ in range(3)] == [True, True, False]
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


def test_reopen_waits_carry_jitter_within_bounds() -> None:
    draws = iter([0.0, 1.0, 0.5, 0.25])
    clock = FakeClock()
    breaker = CircuitBreaker(1, 10.0, clock=clock, rng=lambda: next(draws))
    breaker.record_failure()
    assert breaker.retry_after() == pytest.approx(10.0)  # the first opening: no jitter
    waits = []
    for _ in range(3):
        clock.advance(breaker.retry_after())
        breaker.record_failure(breaker.allow())
        waits.append(breaker.retry_after())
    # draw 1.0 -> 25 % off 20 s; 0.5 -> 12.5 % off; 0.25 -> 6.25 % off
    assert waits == pytest.approx([15.0, 17.5, 18.75])


@pytest.mark.parametrize("period", [0.7, 1.0, 4.0, 5.0])
def test_a_recovered_provider_gets_traffic_back_within_twice_recovery_plus_the_period(
    period: float,
) -> None:
    """PRODUCT.md: with at least one request every ``period`` (<= 5 s) seconds, a provider
    that recovers gets its traffic back within 2 x recovery_timeout + period, whatever the
    timing of the requests and of the recovery. Simulated with an injected clock: the
    provider fails until ``recovered_at``, then succeeds."""
    import random

    recovery = 3.0
    rng = random.Random(7)
    for trial in range(200):
        clock = FakeClock(0.0)
        breaker = CircuitBreaker(2, recovery, clock=clock, rng=rng.random)
        recovered_at = rng.uniform(0.0, 120.0)
        t = rng.uniform(0.0, period)
        back_at = None
        while t < recovered_at + 60:
            clock.advance(t - clock.now)
            ticket = breaker.allow()
            if ticket is not None:
                if t >= recovered_at:
                    breaker.record_success(ticket)
                    back_at = t
                    break
                breaker.record_failure(ticket)
            t += rng.uniform(0.05, period)
        assert back_at is not None, f"trial {trial}: never used again"
        assert back_at - recovered_at <= 2 * recovery + period, f"trial {trial}"
