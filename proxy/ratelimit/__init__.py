"""Rate limits per scope (global, tenant, client key, client IP) and tokens per key,
in-process or shared through Redis. See ``base`` for the semantics."""

from .base import DEFAULT_WINDOW, SCOPES, TOKENS_SCOPE, Decision, Limit, RateLimiter
from .failover import UNAVAILABLE_SCOPE, FailoverRateLimiter, build_rate_limiter
from .memory import MemoryRateLimiter
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
