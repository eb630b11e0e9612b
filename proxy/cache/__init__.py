"""The exact response cache (``proxy.cache.layer``) and where it keeps answers
(``proxy.cache.backend``): in process, or Redis when ``REDIS_URL`` is set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .backend import Backend, CacheUnavailable, MemoryBackend
from .entry import Entry
from .layer import CacheStep, ResponseCache, Source, cache_key

if TYPE_CHECKING:
    from .redis_backend import RedisBackend

__all__ = ["Backend", "CacheStep", "CacheUnavailable", "Entry", "MemoryBackend",
           "RedisBackend", "ResponseCache", "Source", "cache_key"]


def __getattr__(name: str) -> Any:
    """``RedisBackend`` on first use: the ``redis`` client is imported only when needed."""
    if name == "RedisBackend":
        from .redis_backend import RedisBackend

        return RedisBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
