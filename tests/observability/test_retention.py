"""Audit retention against a real SQLite store and real payload stores (directory, S3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from proxy.audit import AuditLog, AuditRetention
from proxy.config import Settings
from proxy.metrics import Metrics
from proxy.payloads import PayloadNotFound, PayloadStore, S3PayloadStore, build_payload_store
from proxy.store import AuditRecord, Store, apply_migrations, open_store

from .conftest import MotoS3, bucket_name, eventually, fetch_audit

pytestmark = pytest.mark.timeout(30)

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


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


@pytest.fixture(params=["local", "s3"])
async def payloads(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[PayloadStore]:
    if request.param == "local":
        settings = Settings(data_dir=tmp_path)
    else:
        s3: MotoS3 = request.getfixturevalue("moto_s3")
        settings = Settings(s3_endpoint_url=s3.url, s3_access_key="a",
                            s3_secret_key="test-secret-s3-0123456789", s3_bucket=bucket_name())
    store = await build_payload_store(settings)
    assert store.kind == request.param
    try:
        yield store
    finally:
        await store.aclose()


def _record(rid: str, age_days: float, body: str | None) -> AuditRecord:
    return AuditRecord(created_at=NOW - timedelta(days=age_days), request_id=rid,
                       endpoint="/v1/chat/completions", status=200, latency_ms=1.0,
                       request_body=body, response_body=body)


async def test_old_records_and_their_payloads_are_pruned(
    store: Store, payloads: PayloadStore
) -> None:
    audit = AuditLog(store, Metrics(), payloads=payloads, inline_max_bytes=10)
    for rid, age, body in (("old-big", 40, "x" * 50), ("old-small", 31, "tiny"),
                           ("new-big", 5, "y" * 50), ("new-small", 0.1, "tiny")):
        audit.submit(_record(rid, age, body))
    await audit.flush()
    before = {r.request_id: r for r in await fetch_audit(store.url)}  # type: ignore[attr-defined]
    old_key, new_key = before["old-big"].payload_key, before["new-big"].payload_key
    assert old_key and new_key
    await payloads.get(old_key)

    metrics = Metrics()
    retention = AuditRetention(store, payloads, metrics, days=30, now=lambda: NOW)
    assert await retention.prune_once() == (1, 1)

    left = {r.request_id for r in await fetch_audit(store.url)}  # type: ignore[attr-defined]
    assert left == {"new-big", "new-small"}
    with pytest.raises(PayloadNotFound):
        await payloads.get(old_key)
    assert b"y" * 50 in await payloads.get(new_key)
    assert await retention.prune_once() == (0, 0)  # idempotent


async def test_retention_task_runs_first_soon_then_every_interval(
    store: Store, tmp_path: Path
) -> None:
    payloads = await build_payload_store(Settings(data_dir=tmp_path))
    audit = AuditLog(store, Metrics(), payloads=payloads, inline_max_bytes=10)
    audit.submit(_record("old-1", 100, "z" * 50))
    await audit.flush()
    retention = AuditRetention(store, payloads, Metrics(), days=30, first_delay=0.05,
                               interval=0.1, now=lambda: NOW)
    task = asyncio.create_task(retention.run())
    try:
        async def empty() -> bool:
            return not await fetch_audit(store.url)  # type: ignore[attr-defined]

        async def no_objects() -> bool:
            # records go first, their objects right after: wait for both, scanning
            # safely while the pass removes emptied date folders
            try:
                return not list((tmp_path / "payloads").rglob("*.json"))
            except FileNotFoundError:
                return False

        await eventually(empty, within=5, interval=0.02)
        audit.submit(_record("old-2", 100, "w" * 50))  # a later pass gets this one too
        await audit.flush()
        await eventually(empty, within=5, interval=0.02)
        await eventually(no_objects, within=5, interval=0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_zero_days_disables_retention(store: Store, tmp_path: Path) -> None:
    payloads = await build_payload_store(Settings(data_dir=tmp_path))
    audit = AuditLog(store, Metrics(), payloads=payloads)
    audit.submit(_record("ancient", 3650, None))
    await audit.flush()
    retention = AuditRetention(store, payloads, Metrics(), days=0, first_delay=0, interval=0)
    async with asyncio.timeout(1):
        await retention.run()  # returns at once
    assert len(await fetch_audit(store.url)) == 1  # type: ignore[attr-defined]


async def test_payload_delete_failure_is_counted_records_still_pruned(
    store: Store, moto_s3: MotoS3
) -> None:
    settings = Settings(s3_endpoint_url=moto_s3.url, s3_access_key="a",
                        s3_secret_key="test-secret-s3-0123456789", s3_bucket=bucket_name())
    payloads = await S3PayloadStore(settings).open()
    try:
        audit = AuditLog(store, Metrics(), payloads=payloads, inline_max_bytes=10)
        audit.submit(_record("old", 60, "q" * 50))
        await audit.flush()
        moto_s3.stop()
        metrics = Metrics()
        retention = AuditRetention(store, payloads, metrics, days=30, now=lambda: NOW)
        assert await retention.prune_once() == (1, 0)
        assert await fetch_audit(store.url) == []  # type: ignore[attr-defined]
        assert metrics.audit_pruned.get({"kind": "payload_errors"}) == 1
    finally:
        await payloads.aclose()
