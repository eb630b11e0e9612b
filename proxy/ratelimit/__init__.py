"""Rate limits per scope (global, tenant, client key, client IP) and tokens per key,
in-process or shared through Redis. See ``base`` for the semantics.

The Redis parts (``failover``, ``redis_backend``) are imported on first use, so a gateway
without ``REDIS_URL`` never loads the ``redis`` client."""

from typing import TYPE_CHECKING, Any

from .base import DEFAULT_WINDOW, SCOPES, TOKENS_SCOPE, Decision, Limit, RateLimiter
from .factory import build_rate_limiter
from .memory import MemoryRateLimiter

if TYPE_CHECKING:
    from .failover import UNAVAILABLE_SCOPE, FailoverRateLimiter
    from .redis_backend import RedisRateLimiter, connect_redis

__all__ = [
    "DEFAULT_WINDOW",
    "SCOPES",
    "TOKENS_SCOPE",
    "UNAVAILABLE_SCOPE",
    "Decision",
    "FailoverRateLimiter",
    "Limit",
    "MemoryRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "build_rate_limiter",
    "connect_redis",
]

_LAZY = {"UNAVAILABLE_SCOPE": "failover", "FailoverRateLimiter": "failover",
         "RedisRateLimiter": "redis_backend", "connect_redis": "redis_backend"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
