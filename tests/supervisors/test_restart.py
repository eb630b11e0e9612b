from __future__ import annotations

import pytest

from supervisors.restart import RestartIntensity
from tests.supervisors import FakeClock

pytestmark = pytest.mark.timeout(5)


# (case, max_restarts, period, gaps before each allow() call, expected answers)
CASES = [
    ("within intensity", 3, 10.0, [0, 1, 1], [True, True, True]),
    ("one too many in the period escalates", 3, 10.0, [0, 1, 1, 1], [True, True, True, False]),
    ("the window slides", 2, 10.0, [0, 1, 9.5], [True, True, True]),
    ("restarts exactly a period apart do not add up", 1, 5.0, [0, 5, 5, 5], [True] * 4),
    ("OTP default: 1 per 5 s", 1, 5.0, [0, 4.9], [True, False]),
    ("zero intensity never restarts", 0, 5.0, [0, 100], [False, False]),
    (
        "a crash loop keeps being refused until it calms down",
        2,
        10.0,
        [0, 1, 1, 1, 1, 5, 9],
        [True, True, False, False, False, False, True],
    ),
]


@pytest.mark.parametrize(
    ("max_restarts", "period", "gaps", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_restart_intensity_table(
    max_restarts: int, period: float, gaps: list[float], expected: list[bool]
) -> None:
    clock = FakeClock()
    intensity = RestartIntensity(max_restarts, period, clock=clock)
    answers = []
    for gap in gaps:
        clock.advance(gap)
        answers.append(intensity.allow())
    assert answers == expected
    assert intensity.total == sum(expected)


def test_reset_forgets_the_window_but_not_the_total() -> None:
    clock = FakeClock()
    intensity = RestartIntensity(2, 10.0, clock=clock)
    assert [intensity.allow() for _ in range(3)] == [True, True, False]
    assert intensity.recent == 3
    intensity.reset()
    assert intensity.recent == 0
    assert intensity.allow()
    assert intensity.total == 3


def test_recent_counts_only_the_period() -> None:
    clock = FakeClock()
    intensity = RestartIntensity(5, 10.0, clock=clock)
    intensity.allow()
    clock.advance(6.0)
    intensity.allow()
    assert intensity.recent == 2
    clock.advance(4.0)
    assert intensity.recent == 1


@pytest.mark.parametrize(("max_restarts", "period"), [(-1, 5.0), (1, 0.0)])
def test_invalid_settings_are_rejected(max_restarts: int, period: float) -> None:
    with pytest.raises(ValueError):
        RestartIntensity(max_restarts, period)
