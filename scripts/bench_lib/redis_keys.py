"""The Redis side of the ``limits`` phase: is Redis there, and remove the limiter keys the
Redis variant wrote. The gateway's limiter prefix is fixed (``rl:``), so the bench uses a
database of its own (``--redis-url``, default ``redis://127.0.0.1:6379/15``) and deletes
exactly the keys of its own scopes afterwards (they would expire a minute later anyway)."""

from __future__ import annotations

import redis
from redis.exceptions import RedisError

__all__ = ["delete_limiter_keys", "redis_problem"]


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)


def redis_problem(url: str) -> str | None:
    """None when ``url`` answers PING within a second, else why not."""
    client = _client(url)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        return f"Redis at {url} not reachable ({type(exc).__name__}: {exc}); Redis variant skipped"
    finally:
        client.close()
    return None


def delete_limiter_keys(url: str, client_id: int) -> int | None:
    """Delete the bench client's limiter keys (global, tenant ``bench``, key, IP
    127.0.0.1, tokens); returns how many existed (5 when every scope went through Redis),
    None when Redis went away."""
    keys = ["rl:r:global:*", "rl:r:tenant:bench", f"rl:r:key:{client_id}",
            "rl:r:ip:127.0.0.1", f"rl:t:key:{client_id}"]
    client = _client(url)
    try:
        found = int(client.exists(*keys))
        client.delete(*keys)
    except (RedisError, OSError):
        return None
    finally:
        client.close()
    return found
