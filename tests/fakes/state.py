"""Per-server state shared by the fake's event loop and the test thread.

Everything here is guarded by one ``threading.Lock``: tests read stats and add
faults from their own thread while the server's loop records requests.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from .faults import Fault, FaultQueue

__all__ = ["STATE", "FakeState", "Kind", "RecordedRequest"]

Kind = Literal["openai", "anthropic", "ollama"]
MAX_RECORDED = 10_000


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    key: str | None
    at: float = field(default_factory=time.monotonic)

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "path": self.path, "headers": self.headers,
            "json": self.json, "key": self.key, "at": self.at,
        }


class FakeState:
    def __init__(self, kind: Kind, keys: Iterable[str] | None, models: Iterable[str] | None):
        self.kind: Kind = kind
        self.keys: frozenset[str] | None = frozenset(keys) if keys is not None else None
        self.models: tuple[str, ...] | None = tuple(models) if models is not None else None
        self.faults = FaultQueue()
        self.closing = asyncio.Event()  # set (from the loop) when the server stops
        self._lock = threading.Lock()
        self._requests: deque[RecordedRequest] = deque(maxlen=MAX_RECORDED)
        self._disconnects: deque[float] = deque(maxlen=MAX_RECORDED)
        self._hits = 0
        self._by_path: Counter[str] = Counter()
        self._by_key: Counter[str] = Counter()
        self._active = 0
        self._streams_open = 0
        self._last_request_at: float | None = None

    # -- recording (server loop) -------------------------------------------
    def record(self, req: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(req)
            self._hits += 1
            self._by_path[req.path] += 1
            self._by_key[req.key or ""] += 1
            self._active += 1
            self._last_request_at = req.at

    def finished(self) -> None:
        with self._lock:
            self._active -= 1

    def stream_opened(self) -> None:
        with self._lock:
            self._streams_open += 1

    def stream_closed(self) -> None:
        with self._lock:
            self._streams_open -= 1

    def disconnected(self) -> None:
        with self._lock:
            self._disconnects.append(time.monotonic())

    def take_fault(self, path: str, model: str | None, key: str | None) -> Fault | None:
        return self.faults.take(path, model, key)

    # -- reading (any thread) ----------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "hits": self._hits,
                "hits_by_path": dict(self._by_path),
                "hits_by_key": dict(self._by_key),
                "active": self._active,
                "streams_open": self._streams_open,
                "disconnects": list(self._disconnects),
                "last_request_at": self._last_request_at,
                "faults_pending": len(self.faults),
            }

    def reset_stats(self) -> None:
        """Forget counters and recorded requests (in-flight gauges stay true)."""
        with self._lock:
            self._requests.clear()
            self._disconnects.clear()
            self._hits = 0
            self._by_path.clear()
            self._by_key.clear()
            self._last_request_at = None


STATE = web.AppKey("fake_state", FakeState)
