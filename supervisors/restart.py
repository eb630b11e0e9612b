"""Restart intensity: how many restarts a supervisor may make in a period.

Erlang/OTP's ``intensity``/``period``: if more than ``max_restarts`` restarts are
needed within ``period`` seconds, the supervisor stops restarting and escalates
(reports the child as failed) instead of looping. The window slides: only restarts
younger than ``period`` count.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["RestartIntensity"]


class RestartIntensity:
    """A sliding window of restart times. Pure and synchronous; the clock is injected."""

    def __init__(
        self,
        max_restarts: int = 5,
        period: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_restarts < 0:
            raise ValueError("max_restarts must be >= 0")
        if period <= 0:
            raise ValueError("period must be > 0")
        self.max_restarts = max_restarts
        self.period = period
        self._clock = clock
        # Only the newest max_restarts + 1 times can decide the answer: memory is bounded.
        self._times: deque[float] = deque(maxlen=max_restarts + 1)
        self._total = 0

    def allow(self) -> bool:
        """Record a needed restart; True if it is within the intensity (restart),
        False if the limit is exceeded (escalate).

        A refused restart is still recorded, as in OTP: a child that keeps crashing
        keeps the window full until it calms down or :meth:`reset` is called.
        """
        now = self._clock()
        self._times.append(now)
        while self._times and now - self._times[0] >= self.period:
            self._times.popleft()
        allowed = len(self._times) <= self.max_restarts
        if allowed:
            self._total += 1
        return allowed

    @property
    def total(self) -> int:
        """Restarts granted since creation (not cleared by :meth:`reset`)."""
        return self._total

    @property
    def recent(self) -> int:
        """Restarts recorded within the current period."""
        now = self._clock()
        return sum(1 for t in self._times if now - t < self.period)

    def reset(self) -> None:
        """Forget the window (e.g. after an operator restarts the provider)."""
        self._times.clear()
