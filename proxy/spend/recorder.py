"""Settled spend, written to the database in batches off the hot path.

Every settled cost is added, in memory, to its client key and tenant under every period
label (day, month, total) — a few dict additions per request, so switching a key's
``budget_period`` later still finds the right figure. One task writes the sums every
``interval`` seconds (``spend`` table, one upsert per touched row, adding to what is
there: replicas never overwrite each other) and once more on shutdown. A failed write
keeps the sums for the next try.

``load`` reads a stored figure plus what this replica has not written yet, under the same
lock as the writer, so a figure is never counted twice nor missed while a write is in
flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from ..store.base import Store
from .ledger import SpendKey

__all__ = ["SpendRecorder"]

log = logging.getLogger("proxy.spend")


class SpendRecorder:
    def __init__(self, store: Store, *, interval: float = 1.0) -> None:
        self._store = store
        self._interval = interval
        self._pending: dict[SpendKey, int] = {}
        self._lock = asyncio.Lock()
        self._failing = False
        self.on_tick: Callable[[], None] | None = None

    def add(self, keys: Sequence[SpendKey], nanos: int) -> None:
        pending = self._pending
        for key in keys:
            pending[key] = pending.get(key, 0) + nanos

    async def load(self, key: SpendKey) -> int:
        async with self._lock:
            stored = await self._store.get_spend([key])
            return stored.get(key, 0) + self._pending.get(key, 0)

    async def load_many(self, keys: Sequence[SpendKey]) -> dict[SpendKey, int]:
        async with self._lock:
            stored = await self._store.get_spend(keys)
            return {k: stored.get(k, 0) + self._pending.get(k, 0) for k in keys}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()
            if self.on_tick is not None:
                self.on_tick()

    async def flush(self) -> None:
        """Write what is pending; never raises (except on cancellation)."""
        if not self._pending:
            return
        async with self._lock:
            batch, self._pending = self._pending, {}
            try:
                await self._store.add_spend([(*k, v) for k, v in batch.items() if v])
            except asyncio.CancelledError:
                self._merge(batch)
                raise
            except Exception as exc:  # keep the sums; try again next time
                self._merge(batch)
                if not self._failing:
                    self._failing = True
                    log.error("spend not written to the database; kept for the next try",
                              extra={"rows": len(batch),
                                     "error": f"{type(exc).__name__}: {exc}"[:300]})
                return
        if self._failing:
            self._failing = False
            log.info("spend written to the database again")

    def _merge(self, batch: dict[SpendKey, int]) -> None:
        for key, value in batch.items():
            self._pending[key] = self._pending.get(key, 0) + value
