"""The audit writer on both databases: text PostgreSQL cannot store is escaped, a batch the
database refuses is written record by record (one bad record loses only itself), the
queue is bounded by bytes as well as by count, and the look-up filters of
``/admin/audit`` (request id, alias, model, session, newest first) work on both.
(``store``: a migrated database of each backend, from this directory's conftest.)"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from proxy.audit import AuditLog, record_cost
from proxy.metrics import Metrics
from proxy.store import AuditFilter, AuditRecord, Store

pytestmark = pytest.mark.timeout(60)


def record(i: int, **fields: object) -> AuditRecord:
    values: dict[str, object] = {
        "created_at": datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC), "request_id": f"req-{i}",
        "endpoint": "/v1/chat/completions", "status": 200, "latency_ms": 1.0,
        "tenant": "t", "alias": "gpt-4o", "upstream_model": "gpt-4o-2024",
    }
    values.update(fields)
    return AuditRecord(**values)  # type: ignore[arg-type]


async def everything(store: Store) -> list[AuditRecord]:
    return await store.list_audit(limit=1000, after_id=None, filters=AuditFilter())


async def test_text_postgresql_cannot_store_is_escaped_not_lost(store: Store) -> None:
    bad = "gpt\x00-4o\udcff"
    await store.insert_audit([
        record(1, alias=bad, upstream_model=bad, request_body='{"model": "a\x00b"}',
               session_id="s\x00", error="oops\x00"),
        record(2),
    ])
    rows = await everything(store)
    assert [r.request_id for r in rows] == ["req-1", "req-2"]
    assert rows[0].alias == "gpt\ufffd-4o?" and rows[0].upstream_model == "gpt\ufffd-4o?"
    assert rows[0].request_body == '{"model": "a\ufffdb"}'
    assert rows[0].session_id == "s\ufffd" and rows[0].error == "oops\ufffd"


async def test_a_batch_with_bad_records_keeps_the_others(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    audit = AuditLog(store, metrics, flush_interval=0.01)
    # a status no integer column holds: the database (or its driver) refuses the row
    for i in range(50):
        audit.submit(record(i, status=2**70) if i in (17, 33) else record(i))
    with caplog.at_level(logging.ERROR, logger="proxy.audit"):
        await audit.flush()
    rows = await everything(store)
    assert len(rows) == 48
    assert not {"req-17", "req-33"} & {r.request_id for r in rows}
    assert audit.written == 48 and audit.failed == 2
    assert audit.queued_bytes == 0
    lines = [r for r in caplog.records if r.getMessage() == "audit records could not be written"]
    assert len(lines) == 1 and lines[0].records == 2  # type: ignore[attr-defined]


async def test_the_queue_is_bounded_by_bytes(store: Store) -> None:
    metrics = Metrics()
    body = "x" * 100_000
    audit = AuditLog(store, metrics, queue_size=10_000, queue_max_bytes=1_000_000)
    for i in range(30):
        audit.submit(record(i, request_body=body))
    cost = record_cost(record(0, request_body=body))
    kept = 1_000_000 // cost
    assert audit.queued == kept and audit.dropped == 30 - kept
    assert audit.queued_bytes == kept * cost <= 1_000_000
    await audit.flush()
    assert audit.queued_bytes == 0 and audit.written == kept
    audit.submit(record(99, request_body=body))  # room again once written
    assert audit.queued == 1


async def test_audit_filters_and_newest_first(store: Store) -> None:
    await store.insert_audit([
        record(1, alias="fast", upstream_model="m1", session_id="s-a"),
        record(2, alias="smart", upstream_model="m2", session_id="s-a"),
        record(3, alias="fast", upstream_model="m2", session_id="s-b"),
        record(4, alias="fast", upstream_model="m1"),
    ])

    async def ids(**filters: object) -> list[str]:
        after = filters.pop("after_id", None)
        rows = await store.list_audit(limit=10, after_id=after,  # type: ignore[arg-type]
                                      filters=AuditFilter(**filters))  # type: ignore[arg-type]
        return [r.request_id for r in rows]

    assert await ids(request_id="req-3") == ["req-3"]
    assert await ids(alias="fast") == ["req-1", "req-3", "req-4"]
    assert await ids(model="m2") == ["req-2", "req-3"]
    assert await ids(session_id="s-a") == ["req-1", "req-2"]
    assert await ids(alias="fast", model="m1") == ["req-1", "req-4"]
    assert await ids(newest_first=True) == ["req-4", "req-3", "req-2", "req-1"]
    newest = await store.list_audit(limit=2, after_id=None, filters=AuditFilter(newest_first=True))
    older = await ids(newest_first=True, after_id=newest[-1].id)
    assert older == ["req-2", "req-1"]
