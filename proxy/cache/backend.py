"""Where cached answers live: in process (an LRU bounded in bytes) or in Redis (shared by
replicas, ``redis_backend``, imported only when ``REDIS_URL`` is set). Both store opaque bytes under a key for a number of seconds.

The Redis backend fails open: any error or a reply slower than its timeout raises
:class:`CacheUnavailable`, and for ``backoff`` seconds after that it is not asked at all
(the request goes on as a bypass), so an outage costs at most one timeout per period.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Backend", "CacheUnavailable", "MemoryBackend"]


class CacheUnavailable(Exception):
    """The shared cache cannot be used right now; the request bypasses it."""


class Backend(Protocol):
    """``get`` and ``set`` are coroutines; a backend that answers without I/O also has
    ``get_nowait`` and ``set_nowait`` (the same, synchronous), which the layer prefers."""

    #: entries larger than this are not stored
    max_entry_bytes: int

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: int) -> None: ...

    def snapshot(self) -> dict[str, Any]:
        """For ``/admin/health``."""
        ...

    async def aclose(self) -> None: ...


#: bookkeeping counted per in-process entry on top of its key and value
_OVERHEAD = 128


class MemoryBackend:
    """An LRU of ``key → (expiry, value)`` whose keys and values never exceed
    ``max_bytes`` in total; expired entries are dropped when met or evicted."""

    def __init__(self, max_bytes: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max(0, max_bytes // 8)
        self.bytes = 0
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        return self.get_nowait(key)

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        self.set_nowait(key, value, ttl)

    def get_nowait(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return item[1]

    def set_nowait(self, key: str, value: bytes, ttl: int) -> None:
        size = _size(key, value)
        if size > self.max_entry_bytes or ttl <= 0:
            return
        if key in self._items:
            self._drop(key)
        while self._items and self.bytes + size > self.max_bytes:
            self._drop(next(iter(self._items)))
        self._items[key] = (self._clock() + ttl, value)
        self.bytes += size

    def _drop(self, key: str) -> None:
        _, value = self._items.pop(key)
        self.bytes -= _size(key, value)

    def snapshot(self) -> dict[str, Any]:
        return {"backend": "memory", "entries": len(self._items), "bytes": self.bytes,
                "max_bytes": self.max_bytes}

    async def aclose(self) -> None:
        self._items.clear()
        self.bytes = 0


def _size(key: str, value: bytes) -> int:
    return len(key) + len(value) + _OVERHEAD
