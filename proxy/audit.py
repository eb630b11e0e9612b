"""The audit trail, written off the hot path, and its retention.

Handlers ``submit`` a record into a queue bounded by count (``queue_size``) and by bytes
(``queue_max_bytes``: the text a record holds, bodies included, is counted until the record
is written), never waiting; one background task (``run``) takes batches and writes them. A
full queue drops the record, counts it (``proxy_audit_dropped_total``) and logs once per
burst rather than slow the client or grow without bound.

A batch the database refuses is written again record by record, so that one bad record
(text the database cannot store, which ``codec.audit_values`` already escapes) loses at
most itself; a database that cannot be reached fails the batch at once.

Large bodies (``AUDIT_STORE_CONTENT=true``): in the writer task, a record whose request or
response body is larger than ``inline_max_bytes`` (UTF-8) is moved to the payload store as
ONE JSON object ``{"request_id", "created_at", "endpoint", "request_body",
"response_body"}`` under ``YYYY/MM/DD/<request id>-<random>.json``; the record keeps
``payload_key`` and its inline body fields are cleared. Small bodies stay inline. If the
payload store fails, the record is still written, without bodies, and ``error`` notes
``payload not stored: …``; the failure is counted (``proxy_audit_payloads_total``), logged
once per burst, and the store is not asked again for ``payload_backoff`` seconds.

Shutdown: the app cancels ``run`` and then awaits ``flush``. A batch being written when
``run`` is cancelled is shielded and finished by ``flush``; records taken from the queue
but not yet written are kept and written by ``flush``; then everything still queued.

Retention (:class:`AuditRetention`): every ``interval`` seconds (first run ``first_delay``
after start) records older than ``days`` are deleted and their payload objects with them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson

from supervisors.inbox import Inbox

from .metrics import Metrics
from .payloads import PayloadStore
from .store.base import AuditRecord, Store, StoreUnavailable

__all__ = ["AuditLog", "AuditRetention", "payload_key_for"]

log = logging.getLogger("proxy.audit")

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_ERROR_MAX = 500
_RECORD_OVERHEAD = 512  # the fixed fields of a record, roughly, in bytes


def payload_key_for(record: AuditRecord) -> str:
    """``YYYY/MM/DD/<sanitised request id>-<12 hex>.json`` (request ids are client input)."""
    rid = _UNSAFE.sub("_", record.request_id)[:100].lstrip("-") or "request"
    created = record.created_at.astimezone(UTC)
    return f"{created:%Y/%m/%d}/{rid}-{uuid.uuid4().hex[:12]}.json"


def _utf8_len(text: str | None) -> int:
    if not text:
        return 0
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def record_cost(record: AuditRecord) -> int:
    """What a queued record holds, roughly, in bytes (characters of its text fields)."""
    cost = _RECORD_OVERHEAD
    for text in (record.request_body, record.response_body, record.error):
        if text:
            cost += len(text)
    return cost


def _note(error: str | None, note: str) -> str:
    return (f"{error}; {note}" if error else note)[:_ERROR_MAX]


class AuditLog:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        payloads: PayloadStore | None = None,
        inline_max_bytes: int = 16 * 1024,
        queue_size: int = 10_000,
        queue_max_bytes: int = 64 << 20,
        batch_size: int = 500,
        flush_interval: float = 0.25,
        payload_concurrency: int = 16,
        payload_backoff: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._payloads = payloads
        self._inline_max = inline_max_bytes
        self._queue: Inbox[AuditRecord] = Inbox(queue_size)
        self._max_bytes = queue_max_bytes
        #: bytes held by records submitted and not yet written (queued, taken, in flight)
        self.queued_bytes = 0
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._payload_concurrency = payload_concurrency
        self._payload_backoff = payload_backoff
        self._clock = clock
        self._pending: list[AuditRecord] = []  # taken from the queue, not yet written
        self._inflight: asyncio.Task[None] | None = None  # the batch being written
        self._dropping = False
        self._payload_down_until = 0.0
        self._payload_failing = False
        self.written = 0
        self.failed = 0
        self.dropped = 0

    @property
    def queued(self) -> int:
        return self._queue.qsize() + len(self._pending)

    def submit(self, record: AuditRecord) -> None:
        """Queue ``record``; never waits. A full queue (count or bytes) drops it (counted,
        logged once per burst)."""
        cost = record_cost(record)
        if self.queued_bytes + cost <= self._max_bytes:
            try:
                self._queue.put_nowait(record)
            except asyncio.QueueFull:
                pass
            else:
                self.queued_bytes += cost
                self._dropping = False
                return
        self.dropped += 1
        self._metrics.audit_dropped.inc({})
        if not self._dropping:
            self._dropping = True
            log.warning("audit queue full; dropping records until it drains",
                        extra={"queued": self._queue.qsize(), "queued_bytes": self.queued_bytes})

    # -- the writer task ---------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            if not self._pending:
                self._pending.append(await self._queue.get())
                # gather a full batch, or what came within the interval: one transaction
                # for many records (a batch of 50 costs each record ~25 % more than 500)
                if self._queue.qsize() < self._batch_size:
                    await asyncio.sleep(self._flush_interval)
            self._fill(self._pending)
            batch, self._pending = self._pending, []
            self._inflight = asyncio.create_task(self._write(batch), name="audit-batch")
            await asyncio.shield(self._inflight)  # cancelled: flush() finishes this batch
            self._inflight = None

    def _fill(self, batch: list[AuditRecord]) -> list[AuditRecord]:
        while len(batch) < self._batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def flush(self, grace: float = 5.0) -> None:
        """Finish the batch in flight, then write everything taken or queued (shutdown)."""
        try:
            async with asyncio.timeout(grace):
                if self._inflight is not None:
                    await self._inflight
                    self._inflight = None
                batch, self._pending = self._fill(self._pending), []
                while batch:
                    await self._write(batch)
                    batch = self._fill([])
        except TimeoutError:
            if self._inflight is not None and not self._inflight.done():
                self._inflight.cancel()
                await asyncio.gather(self._inflight, return_exceptions=True)
            log.warning("audit flush timed out", extra={"left": self.queued})

    async def _write(self, batch: list[AuditRecord]) -> None:
        """Offload large bodies, then insert; never raises (except on cancellation)."""
        cost = sum(map(record_cost, batch))  # before offloading clears the bodies
        try:
            await self._offload(batch)
            await self._insert(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(len(batch), exc)
        finally:
            self.queued_bytes = max(0, self.queued_bytes - cost)

    async def _insert(self, batch: list[AuditRecord]) -> None:
        try:
            await self._store.insert_audit(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if len(batch) == 1 or isinstance(exc, StoreUnavailable | OSError | TimeoutError):
                self._failed(len(batch), exc)
                return
            # refused by the database, not unreachable: find the records at fault
            refused: Exception | None = None
            lost = 0
            for record in batch:
                try:
                    await self._store.insert_audit([record])
                except asyncio.CancelledError:
                    raise
                except Exception as one:
                    refused, lost = one, lost + 1
            self._written(len(batch) - lost)
            if refused is not None:
                self._failed(lost, refused)  # one line for the batch, not one per record
            return
        self._written(len(batch))

    def _written(self, count: int) -> None:
        self.written += count
        self._metrics.audit_records.add({"outcome": "written"}, count)

    def _failed(self, count: int, exc: Exception) -> None:
        self.failed += count
        self._metrics.audit_records.add({"outcome": "failed"}, count)
        log.error("audit records could not be written",
                  extra={"records": count, "error": f"{type(exc).__name__}: {exc}"[:300]})

    # -- large bodies -------------------------------------------------------------------------

    def _too_big(self, record: AuditRecord) -> bool:
        if record.request_body is None and record.response_body is None:
            return False
        return max(_utf8_len(record.request_body), _utf8_len(record.response_body)) > (
            self._inline_max
        )

    async def _offload(self, batch: list[AuditRecord]) -> None:
        payloads = self._payloads
        big = [r for r in batch if self._too_big(r)]
        if payloads is None or not big:
            return
        if self._clock() < self._payload_down_until:
            for record in big:
                self._not_stored(record, "payload store unavailable", "skipped", payloads.kind)
            return
        limit = asyncio.Semaphore(self._payload_concurrency)
        async with asyncio.TaskGroup() as group:
            for record in big:
                group.create_task(self._offload_one(payloads, record, limit))

    async def _offload_one(
        self, payloads: PayloadStore, record: AuditRecord, limit: asyncio.Semaphore
    ) -> None:
        key = payload_key_for(record)
        data = orjson.dumps({
            "request_id": record.request_id,
            "created_at": record.created_at.isoformat(),
            "endpoint": record.endpoint,
            "request_body": record.request_body,
            "response_body": record.response_body,
        })
        try:
            async with limit:
                if self._clock() < self._payload_down_until:
                    self._not_stored(record, "payload store unavailable", "skipped", payloads.kind)
                    return
                await payloads.put(key, data)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure: keep the record, note it
            self._payload_down_until = self._clock() + self._payload_backoff
            reason = f"{type(exc).__name__}: {exc}"[:200]
            self._not_stored(record, reason, "failed", payloads.kind)
            if not self._payload_failing:
                self._payload_failing = True
                log.warning("audit payload store failed; records are kept without bodies",
                            extra={"payload_store": payloads.kind, "error": reason})
            return
        if self._payload_failing:
            self._payload_failing = False
            log.info("audit payload store recovered", extra={"payload_store": payloads.kind})
        record.payload_key = key
        record.request_body = record.response_body = None
        self._metrics.audit_payloads.inc({"kind": payloads.kind, "outcome": "stored"})

    def _not_stored(self, record: AuditRecord, reason: str, outcome: str, kind: str) -> None:
        record.request_body = record.response_body = None
        record.payload_key = None
        record.error = _note(record.error, f"payload not stored: {reason}")
        self._metrics.audit_payloads.inc({"kind": kind, "outcome": outcome})


class AuditRetention:
    """Deletes audit records older than ``days`` and their payload objects, periodically."""

    def __init__(
        self,
        store: Store,
        payloads: PayloadStore,
        metrics: Metrics,
        *,
        days: int,
        interval: float = 3600.0,
        first_delay: float = 60.0,
        prune_timeout: float = 600.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._payloads = payloads
        self._metrics = metrics
        self.days = days
        self._interval = interval
        self._first_delay = first_delay
        self._prune_timeout = prune_timeout
        self._now = now

    async def run(self) -> None:
        """Prune forever (``days <= 0``: return at once); errors are logged, not raised."""
        if self.days <= 0:
            return
        await asyncio.sleep(self._first_delay)
        while True:
            try:
                await self.prune_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # try again next interval
                log.error("audit retention failed",
                          extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
            await asyncio.sleep(self._interval)

    async def prune_once(self) -> tuple[int, int]:
        """One pass: returns (payload keys returned by the store, payload objects deleted)."""
        before = self._now() - timedelta(days=self.days)
        async with asyncio.timeout(self._prune_timeout):
            keys = await self._store.prune_audit(before)
            deleted = 0
            for i in range(0, len(keys), 1000):
                chunk = keys[i:i + 1000]
                try:
                    deleted += await self._payloads.delete(chunk)
                except Exception as exc:  # count the orphans, keep going
                    self._metrics.audit_pruned.add({"kind": "payload_errors"}, len(chunk))
                    log.warning("audit payloads not deleted",
                                extra={"count": len(chunk),
                                       "error": f"{type(exc).__name__}: {exc}"[:300]})
        if deleted:
            self._metrics.audit_pruned.add({"kind": "payloads"}, deleted)
        log.info("audit retention pass", extra={"before": before.isoformat(),
                                                "payload_keys": len(keys),
                                                "payloads_deleted": deleted})
        return len(keys), deleted
