from __future__ import annotations

import pytest

from supervisors.backoff import retry_delay

pytestmark = pytest.mark.timeout(5)

T0 = 100.0  # the first attempt on the provider started here
BUDGET = T0 + 60.0


def fixed(value: float):
    return lambda: value


# (case, attempt, now, deadline, retry_after, max_retries, rng value, expected delay or None)
CASES = [
    ("first retry, rng 0: half the base step", 1, T0 + 0.1, BUDGET, None, 3, 0.0, 0.125),
    ("first retry, rng 1: the full base step", 1, T0 + 0.1, BUDGET, None, 3, 1.0, 0.25),
    ("first retry, rng 0.5", 1, T0 + 0.1, BUDGET, None, 3, 0.5, 0.1875),
    ("step doubles per attempt (4th attempt: 2.0 s)", 4, T0 + 10, BUDGET, None, 5, 1.0, 2.0),
    ("step is capped", 9, T0 + 30, BUDGET, None, 20, 1.0, 8.0),
    ("capped step, rng 0: half the cap", 9, T0 + 30, BUDGET, None, 20, 0.0, 4.0),
    ("no retries configured", 1, T0 + 0.1, BUDGET, None, 0, 0.5, None),
    ("retries exhausted", 3, T0 + 5, BUDGET, None, 2, 0.5, None),
    ("last allowed retry", 2, T0 + 5, BUDGET, None, 2, 1.0, 0.5),
    ("3rd attempt waits for the end of the first 1.5 s (+ slack)", 2, T0 + 0.4, BUDGET, None, 3, 1.0,
     1.2),
    ("3rd attempt already past 1.5 s: plain backoff", 2, T0 + 2.0, BUDGET, None, 3, 1.0, 0.5),
    ("2nd attempt may be early", 1, T0 + 0.01, BUDGET, None, 3, 0.0, 0.125),
    ("Retry-After longer than backoff is honoured", 1, T0 + 0.1, BUDGET, 5.0, 3, 1.0, 5.0),
    ("Retry-After shorter than backoff: backoff wins", 2, T0 + 2.0, BUDGET, 0.1, 3, 1.0, 0.5),
    ("Retry-After past the deadline: fail over now", 1, T0 + 0.1, T0 + 3.0, 10.0, 3, 0.0, None),
    ("Retry-After landing exactly on the deadline", 1, T0 + 1.0, T0 + 3.0, 2.0, 3, 0.0, None),
    ("Retry-After that just fits", 1, T0 + 1.0, T0 + 3.0, 1.9, 3, 0.0, 1.9),
    ("backoff past the deadline: fail over", 4, T0 + 10, T0 + 11.0, None, 5, 1.0, None),
    ("early-window wait past the deadline", 2, T0 + 0.1, T0 + 1.0, None, 3, 0.0, None),
    ("Retry-After 0 is no constraint", 1, T0 + 0.1, BUDGET, 0.0, 3, 0.0, 0.125),
    ("negative Retry-After is ignored", 1, T0 + 0.1, BUDGET, -3.0, 3, 0.0, 0.125),
    ("NaN Retry-After is ignored", 1, T0 + 0.1, BUDGET, float("nan"), 3, 0.0, 0.125),
    ("infinite Retry-After: fail over", 1, T0 + 0.1, BUDGET, float("inf"), 3, 0.0, None),
    ("no budget left at all", 1, BUDGET, BUDGET, None, 3, 0.0, None),
    ("rng out of range is clamped", 1, T0 + 0.1, BUDGET, None, 3, 7.0, 0.25),
]


@pytest.mark.parametrize(
    ("attempt", "now", "deadline", "retry_after", "max_retries", "rng", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_retry_delay_table(
    attempt: int,
    now: float,
    deadline: float,
    retry_after: float | None,
    max_retries: int,
    rng: float,
    expected: float | None,
) -> None:
    delay = retry_delay(
        attempt,
        started=T0,
        now=now,
        deadline=deadline,
        retry_after=retry_after,
        max_retries=max_retries,
        rng=fixed(rng),
    )
    if expected is None:
        assert delay is None
    else:
        assert delay == pytest.approx(expected)


@pytest.mark.parametrize("rng", [0.0, 0.3, 0.999])
def test_never_more_than_two_attempts_in_the_first_one_and_a_half_seconds(rng: float) -> None:
    """Replay a run of instant failures: attempt times must respect the early window."""
    attempts = [T0]
    now = T0
    while True:
        delay = retry_delay(
            len(attempts),
            started=T0,
            now=now,
            deadline=BUDGET,
            retry_after=None,
            max_retries=6,
            rng=fixed(rng),
        )
        if delay is None:
            break
        now += delay
        attempts.append(now)
    assert len(attempts) == 7  # 1 attempt + max_retries retries
    assert sum(1 for t in attempts if t < T0 + 1.5) == 2
    assert all(b > a for a, b in zip(attempts, attempts[1:], strict=False))


def test_attempt_counts_from_one() -> None:
    with pytest.raises(ValueError):
        retry_delay(0, started=T0, now=T0, deadline=BUDGET, retry_after=None, max_retries=3)


def test_default_rng_stays_within_the_jitter_band() -> None:
    for _ in range(200):
        delay = retry_delay(
            3, started=T0, now=T0 + 10, deadline=BUDGET, retry_after=None, max_retries=5
        )
        assert delay is not None and 0.5 <= delay <= 1.0
