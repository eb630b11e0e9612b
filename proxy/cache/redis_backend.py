"""The response cache in Redis, shared by replicas (see ``backend`` for the contract).

A module of its own so that the ``redis`` client (about 10 MB of modules) is imported
only when ``REDIS_URL`` is set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .backend import CacheUnavailable

__all__ = ["RedisBackend"]


class RedisBackend:
    """``SET key value EX ttl`` / ``GET key`` under a prefix, values bounded in size."""

    def __init__(self, client: Redis, *, max_entry_bytes: int = 1024 * 1024,
                 prefix: str = "proxy:cache:", backoff: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entry_bytes = max_entry_bytes
        self._client = client
        self._prefix = prefix
        self._backoff = backoff
        self._clock = clock
        self._down_until = 0.0
        self.errors = 0

    async def get(self, key: str) -> bytes | None:
        self._check()
        try:
            value = await self._client.get(self._prefix + key)
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._failed() from exc
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        if len(value) > self.max_entry_bytes or ttl <= 0:
            return
        self._check()
        try:
            await self._client.set(self._prefix + key, value, ex=ttl)
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._failed() from exc

    def _check(self) -> None:
        if self._down_until and self._clock() < self._down_until:
            raise CacheUnavailable("shared cache unavailable (backing off)")

    def _failed(self) -> CacheUnavailable:
        self.errors += 1
        self._down_until = self._clock() + self._backoff
        return CacheUnavailable("shared cache unavailable")

    def snapshot(self) -> dict[str, Any]:
        return {"backend": "redis", "max_entry_bytes": self.max_entry_bytes,
                "degraded": bool(self._down_until and self._clock() < self._down_until),
                "errors": self.errors}

    async def aclose(self) -> None:
        await self._client.aclose(close_connection_pool=True)
