"""The limiter a configuration asks for: in process, or Redis with the in-process
fallback. The ``redis`` client (about 10 MB of modules) is imported only for the latter."""

from __future__ import annotations

from collections.abc import Callable

from .base import DEFAULT_WINDOW, RateLimiter
from .memory import MemoryRateLimiter

__all__ = ["build_rate_limiter"]


def build_rate_limiter(
    redis_url: str | None,
    *,
    on_fallback: Callable[[str], None] | None = None,
    window: float = DEFAULT_WINDOW,
    prefix: str = "rl:",
    timeout: float = 0.25,
    wait: float = 1.0,
    backoff: float = 1.0,
    fail_open: bool = True,
) -> RateLimiter:
    """In-process when ``redis_url`` is empty, else Redis with the in-process fallback.
    Connects lazily: building never touches the network. ``wait`` bounds a call while
    Redis is up (the client's socket and pool timeouts too), ``timeout`` a probe while it
    is down (see ``failover``)."""
    fallback = MemoryRateLimiter(window=window)
    if not redis_url:
        return fallback
    from .failover import FailoverRateLimiter  # imports the redis client
    from .redis_backend import RedisRateLimiter, connect_redis

    client = connect_redis(redis_url, timeout=max(wait, timeout))
    primary = RedisRateLimiter(client, window=window, prefix=prefix)
    return FailoverRateLimiter(
        primary, fallback, on_fallback=on_fallback, timeout=timeout, wait=wait, backoff=backoff,
        fail_open=fail_open,
    )
