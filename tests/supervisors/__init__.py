"""Tests of the actor runtime (``supervisors/``)."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock the test moves by hand: ``clock()`` reads, ``advance()`` moves."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "a monotonic clock never goes back"
        self.now += seconds
