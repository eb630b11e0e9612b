"""Per-provider circuit breaker (Envoy's consecutive-failure ejection plus a half-open probe).

    CLOSED --failure_threshold consecutive failures--> OPEN
    OPEN --recovery time elapsed (checked lazily)--> HALF_OPEN
    HALF_OPEN --probe succeeds--> CLOSED
    HALF_OPEN --probe fails--> OPEN, for a longer wait: doubled per failed probe, at most
                               ``max_recovery_factor`` x recovery, minus up to 25 % jitter

Only retryable failures (connect errors, timeouts, 408/409/429/5xx) are recorded as
failures; an outcome that says nothing about the provider's health (a 4xx caused by the
request, a cancelled call) is reported with :meth:`CircuitBreaker.release`.

Caller contract: every :meth:`CircuitBreaker.allow` that admits returns a
:class:`Ticket`, and exactly one of ``record_success``, ``record_failure`` or ``release``
is later called with it; otherwise a half-open probe slot stays taken. The ticket says
which period of the breaker admitted the call and whether it is the probe, so the outcome
of a call admitted before the breaker opened (a straggler) changes nothing once it has
opened: it neither closes a half-open circuit nor takes or frees the probe's slot. Only
the probe decides a half-open circuit. (Outcomes reported without a ticket are taken as
those of a call of the current period, as before tickets existed.)

The capped wait guarantees that, with at least one request every ``T`` seconds, a
provider that recovered gets traffic again within ``max_recovery_factor`` x recovery + T.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CircuitBreaker", "CircuitState", "Ticket"]

_MAX_DOUBLINGS = 32  # 2**32 * recovery is beyond any sane cap; keeps the float finite
_JITTER = 0.25  # a re-open wait is shortened by up to this fraction, at random


class CircuitState(enum.IntEnum):
    """Values are exported as the ``proxy_circuit_state`` gauge."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


@dataclass(frozen=True, slots=True)
class Ticket:
    """An admission: the breaker period (``epoch``, bumped each time it opens) that let
    the call through, and whether the call is that period's half-open probe."""

    epoch: int
    probe: bool = False


class CircuitBreaker:
    """Consecutive-failure breaker with half-open probes. Pure and synchronous."""

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        *,
        half_open_max: int = 1,
        max_recovery_factor: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if half_open_max < 1:
            raise ValueError("half_open_max must be >= 1")
        if max_recovery_factor < 1:
            raise ValueError("max_recovery_factor must be >= 1")
        self._clock = clock
        self._rng = rng
        self._half_open_max = half_open_max
        self._max_factor = max_recovery_factor
        self._state = CircuitState.CLOSED
        self._failures = 0  # consecutive retryable failures
        self._open_count = 0  # times opened since creation
        self._reopen_streak = 0  # failed probes since the last close: recovery doubles each
        self._jitter = 1.0  # factor drawn when the circuit last opened
        self._epoch = 0  # bumped each time the circuit opens: tickets of older periods are stale
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
        """The current recovery time: the base, doubled per failed probe, capped at
        ``max_recovery_factor`` x base, shortened by the jitter drawn at opening."""
        grown = self._base_recovery * (2 ** min(self._reopen_streak, _MAX_DOUBLINGS))
        return min(grown, self._base_recovery * self._max_factor) * self._jitter

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def state(self) -> CircuitState:
        """The current state; OPEN turns HALF_OPEN here once recovery has elapsed."""
        if self._state is CircuitState.OPEN and self._recovery_left() <= 0:
            self._state = CircuitState.HALF_OPEN  # no probe in flight: _open() cleared them
        return self._state

    def allow(self) -> Ticket | None:
        """May a request go to this provider now? A ticket if so (in HALF_OPEN it holds
        a probe slot), None if not."""
        state = self.state
        if state is CircuitState.CLOSED:
            return Ticket(self._epoch)
        if state is CircuitState.HALF_OPEN and self._probes < self._half_open_max:
            self._probes += 1
            return Ticket(self._epoch, probe=True)
        return None

    def _decides(self, ticket: Ticket | None) -> bool:
        """Does the outcome of the call holding ``ticket`` count in the current state?
        Closed: calls admitted in this period. Half-open: only this period's probe.
        Open: nothing (stragglers)."""
        state = self.state
        if ticket is None:  # untracked: taken as a call of the current period
            return state is not CircuitState.OPEN
        if ticket.epoch != self._epoch:
            return False
        if state is CircuitState.HALF_OPEN:
            return ticket.probe
        return state is CircuitState.CLOSED

    def record_success(self, ticket: Ticket | None = None) -> None:
        """The provider answered: close (a straggler's success changes nothing)."""
        if self._decides(ticket):
            self._close()

    def record_failure(self, ticket: Ticket | None = None) -> None:
        """A retryable failure: count it; trip at the threshold; a failed probe re-opens."""
        if not self.enabled or not self._decides(ticket):
            return
        self._failures += 1
        if self.state is CircuitState.HALF_OPEN:
            self._reopen_streak += 1
            self._open()
        elif self._failures >= self._threshold:
            self._open()

    def release(self, ticket: Ticket | None = None) -> None:
        """The call ended with an outcome that says nothing about health: free its slot
        (only the probe holds one)."""
        if ticket is not None and not (ticket.probe and ticket.epoch == self._epoch):
            return
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
        self._epoch += 1
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
        self._epoch += 1
        # the first opening waits the configured time; re-opens carry jitter, so that
        # probes of many replicas (or a regular request pattern) do not stay in step
        rng = min(max(self._rng(), 0.0), 1.0)
        self._jitter = 1.0 - _JITTER * rng if self._reopen_streak else 1.0
        self._opened_at = self._clock()
        self._open_count += 1
        self._probes = 0

    def _close(self) -> None:
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._reopen_streak = 0
        self._jitter = 1.0
        self._probes = 0
