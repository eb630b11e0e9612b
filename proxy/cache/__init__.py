"""The exact response cache (``proxy.cache.layer``) and where it keeps answers
(``proxy.cache.backend``): in process, or Redis when ``REDIS_URL`` is set."""

from __future__ import annotations

from .backend import Backend, CacheUnavailable, MemoryBackend, RedisBackend
from .entry import Entry
from .layer import CacheStep, ResponseCache, Source, cache_key

__all__ = ["Backend", "CacheStep", "CacheUnavailable", "Entry", "MemoryBackend",
           "RedisBackend", "ResponseCache", "Source", "cache_key"]
