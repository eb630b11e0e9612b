"""``AuditLog`` against a real SQLite store and real payload stores: large bodies are
offloaded, failures are noted and never lose the record, shutdown loses nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aioprometheus.renderer import render

from proxy.audit import AuditLog, payload_key_for
from proxy.metrics import Metrics
from proxy.payloads import LocalPayloadStore, check_key
from proxy.store import AuditRecord, Store, apply_migrations, open_store

from .conftest import eventually, fetch_audit, parse_prometheus, value

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    await asyncio.to_thread(apply_migrations, url)
    s = await open_store(url)
    s.url = url  # type: ignore[attr-defined]
    try:
        yield s
    finally:
        await s.aclose()


def record(i: int, request_body: str | None = None, response_body: str | None = None,
           error: str | None = None) -> AuditRecord:
    return AuditRecord(created_at=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
                       request_id=f"req-{i}", endpoint="/v1/chat/completions", status=200,
                       latency_ms=1.0, request_body=request_body, response_body=response_body,
                       error=error)


def metric(metrics: Metrics, name: str, **labels: str) -> float:
    body, _ = render(metrics.registry, [])
    return value(parse_prometheus(body.decode()), name, **labels)


async def all_records(store: Store) -> list[AuditRecord]:
    return await fetch_audit(store.url)  # type: ignore[attr-defined]


async def test_large_bodies_go_to_payload_store_small_stay_inline(
    store: Store, tmp_path: Path
) -> None:
    payloads = LocalPayloadStore(tmp_path / "payloads")
    metrics = Metrics()
    audit = AuditLog(store, metrics, payloads=payloads, inline_max_bytes=100)
    big_response = "data: " + "é" * 60 + "\n\n"  # 60 characters, 120+ bytes in UTF-8
    audit.submit(record(1, '{"small": true}', "small answer"))
    audit.submit(record(2, '{"small": true}', big_response))
    audit.submit(record(3, "x" * 101, None, error="upstream said no"))
    await audit.flush()
    rows = {r.request_id: r for r in await all_records(store)}
    assert rows["req-1"].request_body == '{"small": true}'
    assert rows["req-1"].response_body == "small answer" and rows["req-1"].payload_key is None
    for rid, req, resp in (("req-2", '{"small": true}', big_response), ("req-3", "x" * 101, None)):
        row = rows[rid]
        assert row.request_body is None and row.response_body is None
        assert row.payload_key and row.payload_key.startswith("2026/03/04/" + rid + "-")
        stored = orjson.loads(await payloads.get(row.payload_key))
        assert stored["request_body"] == req and stored["response_body"] == resp
        assert stored["request_id"] == rid
    assert rows["req-3"].error == "upstream said no"
    assert metric(metrics, "proxy_audit_payloads_total", kind="local", outcome="stored") == 2
    assert metric(metrics, "proxy_audit_records_total", outcome="written") == 3


async def test_payload_store_failure_keeps_record_notes_it_counts_and_logs_once(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    metrics = Metrics()
    audit = AuditLog(store, metrics, payloads=LocalPayloadStore(blocker), inline_max_bytes=10,
                     payload_concurrency=1)
    for i in range(5):
        audit.submit(record(i, "q" * 50, "a" * 50, error="client disconnected" if i == 0 else None))
    audit.submit(record(99, "tiny", "tiny"))
    with caplog.at_level(logging.WARNING, logger="proxy.audit"):
        await audit.flush()
    rows = {r.request_id: r for r in await all_records(store)}
    assert len(rows) == 6
    for i in range(5):
        row = rows[f"req-{i}"]
        assert row.payload_key is None and row.request_body is None and row.response_body is None
        assert row.error is not None and "payload not stored" in row.error
    assert (rows["req-0"].error or "").startswith("client disconnected; payload not stored")
    assert rows["req-99"].response_body == "tiny" and rows["req-99"].error is None
    failed = metric(metrics, "proxy_audit_payloads_total", kind="local", outcome="failed")
    skipped = metric(metrics, "proxy_audit_payloads_total", kind="local", outcome="skipped")
    assert failed == 1 and skipped == 4  # after one failure the store is left alone a while
    warnings = [r for r in caplog.records if "payload store failed" in r.getMessage()]
    assert len(warnings) == 1


async def test_cancelled_writer_loses_nothing_and_writes_nothing_twice(store: Store) -> None:
    audit = AuditLog(store, Metrics(), batch_size=200, flush_interval=0.0)
    for i in range(3000):
        audit.submit(record(i))
    writer = asyncio.create_task(audit.run())
    await eventually(lambda: audit._inflight is not None)  # cancel while a batch is written
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    assert writer.cancelled()
    await audit.flush()
    ids = [r.request_id for r in await all_records(store)]
    assert len(ids) == 3000 and len(set(ids)) == 3000


async def test_cancelled_while_collecting_a_batch_flush_writes_it(store: Store) -> None:
    audit = AuditLog(store, Metrics(), flush_interval=10.0)
    for i in range(10):
        audit.submit(record(i))
    writer = asyncio.create_task(audit.run())
    await eventually(lambda: audit._pending)
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    assert audit.queued == 10
    await audit.flush()
    assert len(await all_records(store)) == 10 and audit.queued == 0


async def test_writer_batches_while_running_and_flush_drains_the_rest(store: Store) -> None:
    audit = AuditLog(store, Metrics(), batch_size=100, flush_interval=0.01)
    writer = asyncio.create_task(audit.run())
    try:
        for i in range(450):
            audit.submit(record(i))
        await eventually(lambda: audit.written >= 450, interval=0.01)
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    for i in range(450, 1650):
        audit.submit(record(i))
    await audit.flush()
    assert len(await all_records(store)) == 1650 and audit.written == 1650


async def test_full_queue_drops_and_counts_without_waiting(store: Store) -> None:
    metrics = Metrics()
    audit = AuditLog(store, metrics, queue_size=5)
    for i in range(8):
        audit.submit(record(i))  # synchronous: it cannot wait
    assert audit.dropped == 3
    assert metric(metrics, "proxy_audit_dropped_total") == 3
    await audit.flush()
    assert [r.request_id for r in await all_records(store)] == [f"req-{i}" for i in range(5)]


@pytest.mark.parametrize("rid", ["../../etc/passwd", "a/b", "..", "-x", "ünï cødé", "x" * 128])
def test_payload_keys_are_safe_whatever_the_request_id(rid: str) -> None:
    key = payload_key_for(AuditRecord(created_at=datetime(2026, 1, 2, tzinfo=UTC),
                                      request_id=rid, endpoint="/", status=200, latency_ms=0))
    assert check_key(key) == key and key.startswith("2026/01/02/") and key.endswith(".json")
    assert key.count("/") == 3
