"""The real server with ``AUDIT_STORE_CONTENT=true``: a large streamed answer is stored in
the payload store (S3 via moto, or the local directory) byte-identical to what the client
received and referenced from its audit record; with the payload store gone, requests are
still served and the record says the payload was not stored."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
import orjson
import pytest

from proxy.store import AuditRecord
from tests.harness import ADMIN_KEY, ProxyProcess

from .conftest import (
    MotoS3,
    ProviderSeed,
    StartProxy,
    admin_audit,
    bucket_name,
    parse_prometheus,
    read_audit,
    value,
    wait_for,
)

pytestmark = pytest.mark.timeout(90)

INLINE_MAX = 2048


def _record(database_url: str, request_id: str) -> AuditRecord:
    def find() -> AuditRecord | None:
        return next((r for r in read_audit(database_url) if r.request_id == request_id), None)

    return wait_for(find, timeout=15.0)


def _ask(http: httpx.Client, key: str, model: str, rid: str, stream: bool) -> httpx.Response:
    body = {"model": model, "stream": stream,
            "messages": [{"role": "user", "content": "tell me everything"}]}
    resp = http.post("/v1/chat/completions", json=body, headers={
        "Authorization": f"Bearer {key}", "x-request-id": rid})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-request-id"] == rid
    return resp


def _scenario(start_proxy: StartProxy, env: dict[str, str],
              fetch: Callable[[str], bytes], break_store: Callable[[ProxyProcess], None],
              kind: str) -> None:
    proxy, seeded = start_proxy(
        [ProviderSeed("mock", config={"tokens": 1500}, aliases=(("big", "mock-big", 0),)),
         ProviderSeed("tiny", "mock", config={"response": "short answer"},
                      aliases=(("small", "mock-small", 0),))],
        env={"AUDIT_STORE_CONTENT": "true", "AUDIT_INLINE_MAX_BYTES": str(INLINE_MAX), **env},
    )
    key = seeded.client_keys["client"]
    with httpx.Client(base_url=proxy.url, timeout=30.0) as http:
        big = _ask(http, key, "big", f"big-{kind}-1", stream=True)
        assert len(big.content) > 50 * INLINE_MAX and big.content.endswith(b"data: [DONE]\n\n")
        small = _ask(http, key, "small", f"small-{kind}-1", stream=False)

        rec = _record(seeded.database_url, f"big-{kind}-1")
        assert rec.payload_key and rec.payload_key.endswith(".json")
        assert f"/big-{kind}-1-" in rec.payload_key
        assert rec.request_body is None and rec.response_body is None and rec.error is None
        stored = orjson.loads(fetch(rec.payload_key))
        assert stored["response_body"].encode() == big.content  # byte-identical
        assert stored["request_body"].encode() == big.request.content
        assert stored["request_id"] == f"big-{kind}-1"

        inline = _record(seeded.database_url, f"small-{kind}-1")
        assert inline.payload_key is None
        assert inline.response_body is not None
        assert inline.response_body.encode() == small.content
        assert inline.request_body is not None
        assert inline.request_body.encode() == small.request.content

        listed = {e["request_id"]: e for e in admin_audit(proxy, ADMIN_KEY)}
        assert listed[f"big-{kind}-1"]["payload_key"] == rec.payload_key
        assert listed[f"big-{kind}-1"]["response_body"] is None
        assert listed[f"small-{kind}-1"]["response_body"] == inline.response_body
        health = proxy.admin.health()["payload_store"]
        assert health["backend"] == kind and health["status"] == "ok"

        break_store(proxy)
        after = _ask(http, key, "big", f"big-{kind}-2", stream=True)
        assert after.content.endswith(b"data: [DONE]\n\n")
        failed = _record(seeded.database_url, f"big-{kind}-2")
        assert failed.status == 200 and failed.payload_key is None
        assert failed.response_body is None
        assert failed.error is not None and "payload not stored" in failed.error
        assert _ask(http, key, "small", f"small-{kind}-2", stream=False).status_code == 200
        health = proxy.admin.health()["payload_store"]
        assert health["status"] == "error" and health["last_error"]
        samples = parse_prometheus(http.get("/metrics").text)
        assert value(samples, "proxy_audit_payloads_total", kind=kind, outcome="failed") == 1
        assert value(samples, "proxy_audit_payloads_total", kind=kind, outcome="stored") == 1
    logs = proxy.logs()
    assert logs.count("audit payload store failed") == 1


def test_large_stream_goes_to_s3_and_dead_s3_never_fails_requests(
    start_proxy: StartProxy, moto_s3: MotoS3
) -> None:
    bucket = bucket_name()
    s3 = boto3.client("s3", endpoint_url=moto_s3.url, region_name="us-east-1",
                      aws_access_key_id="test-access",
                      aws_secret_access_key="test-secret-s3-0123456789")

    def fetch(key: str) -> bytes:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    _scenario(start_proxy, moto_s3.env(bucket), fetch, lambda _proxy: moto_s3.stop(), "s3")


def test_large_stream_goes_to_local_dir_and_broken_dir_never_fails_requests(
    start_proxy: StartProxy, tmp_path: Path
) -> None:
    root = tmp_path / "data" / "payloads"

    def fetch(key: str) -> bytes:
        path = (root / key).resolve()
        assert path.is_relative_to(root.resolve())
        return path.read_bytes()

    def break_store(_proxy: Any) -> None:
        shutil.rmtree(root)
        root.write_text("a file where the payload directory was")

    _scenario(start_proxy, {}, fetch, break_store, "local")
