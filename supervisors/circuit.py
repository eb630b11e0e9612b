"""Per-provider circuit breaker (Envoy's consecutive-failure ejection plus a half-open probe).

    CLOSED --failure_threshold consecutive failures--> OPEN
    OPEN --recovery time elapsed (checked lazily)--> HALF_OPEN
    HALF_OPEN --probe succeeds--> CLOSED
    HALF_OPEN --probe fails--> OPEN, recovery time doubled (capped)

Only retryable failures (connect errors, timeouts, 408/409/429/5xx) are recorded as
failures; an outcome that says nothing about the provider's health (a 4xx caused by the
request, a cancelled call) is reported with :meth:`CircuitBreaker.release`.

Caller contract: every ``allow() -> True`` is followed by exactly one of
``record_success``, ``record_failure`` or ``release``; otherwise a half-open probe slot
stays taken. Outcomes of calls admitted before the breaker opened (stragglers) that
arrive while it is OPEN do not change its state or timing.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Any

__all__ = ["CircuitBreaker", "CircuitState"]

_MAX_DOUBLINGS = 32  # 2**32 * recovery is beyond any sane cap; keeps the float finite


class CircuitState(enum.IntEnum):
    """Values are exported as the ``proxy_circuit_state`` gauge."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitBreaker:
    """Consecutive-failure breaker with half-open probes. Pure and synchronous."""

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        *,
        half_open_max: int = 1,
        max_recovery_timeout: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if half_open_max < 1:
            raise ValueError("half_open_max must be >= 1")
        self._clock = clock
        self._half_open_max = half_open_max
        self._max_recovery = max_recovery_timeout
        self._state = CircuitState.CLOSED
        self._failures = 0  # consecutive retryable failures
        self._open_count = 0  # times opened since creation
        self._reopen_streak = 0  # failed probes since the last close: recovery doubles each
        self._opened_at = 0.0
        self._probes = 0  # half-open probes in flight
        self._threshold = 0
        self._base_recovery = 0.0
        self.reconfigure(failure_threshold, recovery_timeout)

    # -- configuration -------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self._threshold > 0

    def reconfigure(self, failure_threshold: int, recovery_timeout: float) -> None:
        """Apply new settings and keep the state (an open circuit stays open, with its
        recovery time recomputed from the new base). ``failure_threshold <= 0``
        disables the breaker, which closes it."""
        if recovery_timeout < 0:
            raise ValueError("recovery_timeout must be >= 0")
        self._threshold = failure_threshold
        self._base_recovery = recovery_timeout
        if failure_threshold <= 0:
            self._close()

    # -- state ---------------------------------------------------------------------

    @property
    def recovery_timeout(self) -> float:
        """The current recovery time: the base, doubled per failed probe, capped."""
        grown = self._base_recovery * (2 ** min(self._reopen_streak, _MAX_DOUBLINGS))
        return min(grown, max(self._max_recovery, self._base_recovery))

    @property
    def state(self) -> CircuitState:
        """The current state; OPEN turns HALF_OPEN here once recovery has elapsed."""
        if self._state is CircuitState.OPEN and self._recovery_left() <= 0:
            self._state = CircuitState.HALF_OPEN  # no probe in flight: _open() cleared them
        return self._state

    def allow(self) -> bool:
        """May a request go to this provider now? In HALF_OPEN this takes a probe slot."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and self._probes < self._half_open_max:
            self._probes += 1
            return True
        return False

    def record_success(self) -> None:
        """The provider answered: close (unless this is a straggler while OPEN)."""
        if self.state is CircuitState.OPEN:
            return
        self._close()

    def record_failure(self) -> None:
        """A retryable failure: count it; trip at the threshold; a failed probe re-opens."""
        if not self.enabled:
            return
        state = self.state
        self._failures += 1
        if state is CircuitState.HALF_OPEN:
            self._reopen_streak += 1
            self._open()
        elif state is CircuitState.CLOSED and self._failures >= self._threshold:
            self._open()

    def release(self) -> None:
        """The call ended with an outcome that says nothing about health: free its slot."""
        if self.state is CircuitState.HALF_OPEN and self._probes > 0:
            self._probes -= 1

    def force_open(self, seconds: float) -> None:
        """Open now for ``seconds`` because another replica's breaker for the same
        provider opened (shared circuit state). Keeps a longer open period."""
        if not self.enabled or seconds <= 0:
            return
        if self.state is CircuitState.OPEN and self._recovery_left() >= seconds:
            return
        self._state = CircuitState.OPEN
        self._opened_at = self._clock() - self.recovery_timeout + seconds
        self._probes = 0

    def retry_after(self) -> float:
        """Seconds until a probe is allowed: 0 when CLOSED or when a half-open slot is
        free; while the half-open probes are all in flight, the time is unknown (it
        depends on the probe) and 0 is returned too — :meth:`allow` stays the authority."""
        if self.state is CircuitState.OPEN:
            return self._recovery_left()
        return 0.0

    def snapshot(self) -> dict[str, Any]:
        """For ``/admin/health``: state name (lower case), counters and timing."""
        state = self.state
        return {
            "state": state.name.lower(),
            "consecutive_failures": self._failures,
            "open_count": self._open_count,
            "retry_after": round(self.retry_after(), 3),
            "recovery_timeout": self.recovery_timeout,
        }

    # -- transitions ---------------------------------------------------------------

    def _recovery_left(self) -> float:
        return max(0.0, self._opened_at + self.recovery_timeout - self._clock())

    def _open(self) -> None:
        self._state = CircuitState.OPEN
        self._opened_at = self._clock()
        self._open_count += 1
        self._probes = 0

    def _close(self) -> None:
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._reopen_streak = 0
        self._probes = 0
