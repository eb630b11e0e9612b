"""The payload stores against real backends: a temporary directory and moto's S3 server."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from proxy.config import Settings
from proxy.payloads import (
    InvalidPayloadKey,
    LocalPayloadStore,
    PayloadError,
    PayloadNotFound,
    S3PayloadStore,
    build_payload_store,
)

from .conftest import MotoS3, bucket_name

pytestmark = pytest.mark.timeout(30)

BAD_KEYS = ["../escape.json", "a/../../b.json", "/etc/passwd", "a//b", ".hidden", "a/.x/b",
            "a\\b", "a/b\x00c", "", "x" * 600, "a/b?c", "a b"]


async def test_local_store_round_trips_and_deletes(tmp_path: Path) -> None:
    store = LocalPayloadStore(tmp_path / "payloads")
    data = os.urandom(100_000)
    await store.put("2026/01/31/req-1-abc.json", data)
    assert await store.get("2026/01/31/req-1-abc.json") == data
    assert (tmp_path / "payloads" / "2026" / "01" / "31" / "req-1-abc.json").read_bytes() == data
    assert await store.delete(["2026/01/31/req-1-abc.json", "2026/01/31/missing.json"]) == 1
    with pytest.raises(PayloadNotFound):
        await store.get("2026/01/31/req-1-abc.json")
    assert not (tmp_path / "payloads" / "2026").exists()  # empty date folders removed
    assert await store.ping() and store.status() == {
        "kind": "local", "ok": True, "last_error": None,
        "location": str((tmp_path / "payloads").resolve())}


async def test_local_store_writes_are_atomic_no_partial_files(tmp_path: Path) -> None:
    store = LocalPayloadStore(tmp_path / "p")
    blobs = [bytes([i]) * 200_000 for i in range(20)]
    await asyncio.gather(*(store.put("same/key.json", b) for b in blobs))
    assert await store.get("same/key.json") in blobs  # one whole write won, never a mix
    assert os.listdir(tmp_path / "p" / "same") == ["key.json"]  # no temporary files left


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_local_store_refuses_keys_that_escape(tmp_path: Path, key: str) -> None:
    store = LocalPayloadStore(tmp_path / "p")
    with pytest.raises(InvalidPayloadKey):
        await store.put(key, b"x")
    with pytest.raises(InvalidPayloadKey):
        await store.get(key)
    assert not (tmp_path / "escape.json").exists()


async def test_local_store_failure_is_a_payload_error_and_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("file")
    store = LocalPayloadStore(blocker)
    with pytest.raises(PayloadError):
        await store.put("a/b.json", b"x")
    status = store.status()
    assert status["ok"] is False and "Error" in status["last_error"]
    assert await store.ping() is False


def _s3_settings(s3: MotoS3, bucket: str) -> Settings:
    return Settings(s3_endpoint_url=s3.url, s3_access_key="test-access",
                    s3_secret_key="test-secret-s3-0123456789", s3_bucket=bucket)


async def test_s3_store_creates_bucket_round_trips_and_deletes(moto_s3: MotoS3) -> None:
    store = await build_payload_store(_s3_settings(moto_s3, bucket_name()))
    try:
        assert isinstance(store, S3PayloadStore) and store.kind == "s3"
        data = os.urandom(300_000)
        keys = [f"2026/02/0{i}/r-{i}.json" for i in range(1, 4)]
        for key in keys:
            await store.put(key, data)
        assert await store.get(keys[1]) == data
        assert await store.delete(keys) == 3
        for key in keys:
            with pytest.raises(PayloadNotFound):
                await store.get(key)
        assert await store.ping() is True
        assert store.status()["ok"] is True
        with pytest.raises(InvalidPayloadKey):
            await store.put("../x.json", b"x")
    finally:
        await store.aclose()


async def test_dead_s3_fails_fast_and_recovers_status(moto_s3: MotoS3) -> None:
    store = await S3PayloadStore(_s3_settings(moto_s3, bucket_name())).open()
    try:
        moto_s3.stop()
        started = time.monotonic()
        with pytest.raises(PayloadError):
            await store.put("a/b.json", b"x")
        assert time.monotonic() - started < 3.0
        status = store.status()
        assert status["kind"] == "s3" and status["ok"] is False and status["last_error"]
        assert await store.ping() is False
    finally:
        await store.aclose()


async def test_s3_down_at_start_still_opens_and_creates_bucket_later(moto_s3: MotoS3) -> None:
    port = moto_s3.url.rsplit(":", 1)[1]
    moto_s3.stop()
    settings = _s3_settings(moto_s3, bucket_name())
    store = await S3PayloadStore(settings).open()  # no exception: the gateway must start
    try:
        assert store.status()["ok"] is False
        from moto.server import ThreadedMotoServer

        again = ThreadedMotoServer(ip_address="127.0.0.1", port=int(port), verbose=False)
        again.start()
        try:
            await store.put("late/key.json", b"ok")
            assert await store.get("late/key.json") == b"ok"
            assert store.status()["ok"] is True
        finally:
            again.stop()
    finally:
        await store.aclose()


async def test_build_payload_store_defaults_to_data_dir(tmp_path: Path) -> None:
    store = await build_payload_store(Settings(data_dir=tmp_path))
    assert isinstance(store, LocalPayloadStore)
    assert store.root == (tmp_path / "payloads").resolve()
