"""The retry policy for one provider, as one pure function.

PRODUCT.md: retryable failures are retried on the same provider with exponential
backoff and jitter up to ``max_retries``; ``Retry-After`` is honoured when it fits the
request's remaining budget; never more than 2 attempts in the first 1.5 s; then the
router fails over. (A timed-out provider is not retried at all: the caller does not ask.)

Jitter: "equal jitter" — half of the exponential step is fixed, half is random:
``step = min(cap, base * 2**(attempt-1))``, ``delay = step/2 + rng() * step/2``.
The fixed half keeps retries from bunching right after a failure; the random half
spreads the retries of many concurrent requests apart.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

__all__ = ["EARLY_ATTEMPTS", "EARLY_WINDOW", "retry_delay"]

EARLY_ATTEMPTS = 2  # at most this many attempts ...
EARLY_WINDOW = 1.5  # ... within this many seconds after the first one started
#: the window is measured where the upstream sees the calls: the first attempt may have
#: spent longer getting there (a worker starting, a new connection) than a later one
EARLY_SLACK = 0.1
_MAX_EXPONENT = 62  # keeps 2**n finite; the cap applies long before


def retry_delay(
    attempt: int,
    *,
    started: float,
    now: float,
    deadline: float,
    retry_after: float | None,
    max_retries: int,
    rng: Callable[[], float] = random.random,
    base: float = 0.25,
    cap: float = 8.0,
) -> float | None:
    """Seconds to wait before the next attempt on the same provider, or None: stop
    retrying here and fail over.

    ``attempt``: attempts already made on this provider (1 after the first failure).
    ``started``: when the first attempt on this provider started; ``now``, ``deadline``:
    the same clock (the deadline is the request's budget). ``retry_after``: the upstream's
    ``Retry-After`` in seconds, if it sent one.
    """
    if attempt < 1:
        raise ValueError("attempt counts attempts already made; it starts at 1")
    if attempt > max_retries:  # attempt - 1 retries made; one more would exceed the cap
        return None
    step = min(cap, base * 2.0 ** min(attempt - 1, _MAX_EXPONENT))
    delay = step / 2 + min(max(rng(), 0.0), 1.0) * step / 2
    if attempt + 1 > EARLY_ATTEMPTS:  # the next attempt may not fall in the early window
        delay = max(delay, started + EARLY_WINDOW + EARLY_SLACK - now)
    if retry_after is not None and not math.isnan(retry_after):
        delay = max(delay, retry_after)
    if now + delay >= deadline:  # would start at or past the budget: fail over now
        return None
    return delay
