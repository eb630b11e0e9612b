"""When Redis counts as down, and when to ask it again: the rule the rate limiter and the
budgets share.

While Redis is up a call waits up to ``wait`` seconds for its answer. That deadline is
long on purpose: a call abandoned on our side may still have run in Redis, and a busy
event loop (our own CPU, not Redis) easily makes an answer a few hundred milliseconds
late; such an answer must still decide. Redis is declared down on a connection failure,
or after ``DOWN_AFTER`` consecutive calls without an answer within ``wait`` (one slow
answer is not an outage). While down, callers answer in process; after ``backoff``
seconds one call probes Redis under the short ``timeout`` (the others keep answering in
process, so a dead Redis costs at most one ``timeout`` per backoff period), and only
that probe's success ends the outage.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["DOWN_AFTER", "REDIS_FAILURES", "RedisOutage"]

#: what a Redis call raises when Redis did not answer (anything else is our own bug)
REDIS_FAILURES = (RedisError, OSError, TimeoutError)
_TIMEOUTS = (TimeoutError, RedisTimeoutError)
#: consecutive timeouts that declare Redis down (a connection failure does at once)
DOWN_AFTER = 3


class RedisOutage:
    def __init__(self, *, timeout: float = 0.25, wait: float = 1.0, backoff: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.wait = max(wait, timeout)
        self.backoff = backoff
        self._clock = clock
        self.down = False
        self._retry_at = 0.0
        self._probing = False
        self._timeouts = 0

    def deadline(self) -> float | None:
        """Seconds the call about to be made may wait for Redis, or None: answer in
        process (Redis is down and this call is not its probe). A call given the probe's
        deadline must end with ``failed`` or ``succeeded``, or ``abandoned`` when it is
        cancelled."""
        if not self.down:
            return self.wait
        if self._probing or self._clock() < self._retry_at:
            return None
        self._probing = True
        return self.timeout

    def failed(self, exc: BaseException, probe: bool) -> bool:
        """Count a call without an answer; True when it declares Redis down."""
        if probe:
            self._probing = False
        if self.down:
            self._retry_at = self._clock() + self.backoff
            return False
        self._timeouts = self._timeouts + 1 if isinstance(exc, _TIMEOUTS) else DOWN_AFTER
        if self._timeouts < DOWN_AFTER:
            return False  # no answer within ``wait``: this call answers in process
        self._retry_at = self._clock() + self.backoff
        self.down = True
        return True

    def succeeded(self, probe: bool) -> bool:
        """Count an answer; True when it ends the outage (only the probe may: a call
        that started before the outage was declared does not)."""
        self._timeouts = 0
        if not probe:
            return False
        self._probing = False
        if not self.down:
            return False
        self.down = False
        return True

    def abandoned(self, probe: bool) -> None:
        """The call was cancelled: it neither failed nor succeeded."""
        if probe:
            self._probing = False
