"""The audit trail, written off the hot path.

Handlers ``submit`` a record into a bounded queue (never waiting); one background task
writes batches to the store. A full queue drops the record, counts it
(``proxy_audit_dropped_total``) and logs once per burst rather than slow the client.
The queue is flushed on shutdown.
"""

from __future__ import annotations

import asyncio
import logging

from .metrics import Metrics
from .store.base import AuditRecord, Store

__all__ = ["AuditLog"]

log = logging.getLogger("proxy.audit")


class AuditLog:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.25,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._queue: asyncio.Queue[AuditRecord] = asyncio.Queue(queue_size)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._dropping = False
        self.written = 0
        self.failed = 0

    def submit(self, record: AuditRecord) -> None:
        try:
            self._queue.put_nowait(record)
            self._dropping = False
        except asyncio.QueueFull:
            self._metrics.audit_dropped.inc({})
            if not self._dropping:
                self._dropping = True
                log.warning("audit queue full; dropping records until it drains")

    async def run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            await asyncio.sleep(self._flush_interval if self._queue.qsize() < 50 else 0)
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._write(batch)

    async def _write(self, batch: list[AuditRecord]) -> None:
        try:
            await self._store.insert_audit(batch)
            self.written += len(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failed += len(batch)
            log.error("audit batch could not be written",
                      extra={"records": len(batch), "error": f"{type(exc).__name__}: {exc}"[:300]})

    async def flush(self, timeout: float = 5.0) -> None:
        """Write what is queued (on shutdown), for at most ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                while not self._queue.empty():
                    batch = []
                    while len(batch) < self._batch_size and not self._queue.empty():
                        batch.append(self._queue.get_nowait())
                    await self._write(batch)
        except TimeoutError:
            log.warning("audit flush timed out", extra={"left": self._queue.qsize()})
