"""ENCRYPTION_KEY entries held in KMS (moto's server): envelope encryption end to end.

The gateway runs as a subprocess with ``ENCRYPTION_KEY=aws-kms:<key id>``; provider keys
stored through the admin API must reach the fake upstream intact (it refuses any other
key), the database must hold neither the provider key nor a plaintext data key, and the
same must hold after a restart and across rotations between Fernet and KMS.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from proxy.crypto import generate_fernet_key
from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess
from tests.services import free_port

UPSTREAM_KEY = "sk-upstream-kms-test-key-zz9988"
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
       "AWS_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def kms_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys={UPSTREAM_KEY}) as fake:
        yield fake


def _new_kms_key(url: str) -> str:
    client = boto3.client("kms", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    return str(client.create_key(Description="openai-proxy test")["KeyMetadata"]["KeyId"])


def _gateway(tmp: Path, url: str, encryption_key: str) -> ProxyProcess:
    return ProxyProcess(tmp, env={**AWS, "AWS_ENDPOINT_URL_KMS": url,
                                  "ENCRYPTION_KEY": encryption_key})


def _ask(proc: ProxyProcess, client_key: str) -> httpx.Response:
    return httpx.post(proc.url + "/v1/chat/completions", timeout=10,
                      headers={"Authorization": f"Bearer {client_key}"},
                      json={"model": "kms-model", "messages": [{"role": "user", "content": "hi"}]})


def _configure(proc: ProxyProcess, upstream: FakeUpstream) -> str:
    admin = proc.admin
    provider = admin.provider("kmsfake", "openai", upstream.base_url, keys=[UPSTREAM_KEY],
                              max_retries=0)
    admin.mapping("kms-model", provider["id"], "gpt-4o-mini")
    return admin.client_key("kms-client")


def _db_text(tmp: Path) -> str:
    db = sqlite3.connect(tmp / "data" / "proxy.db")
    try:
        rows = [repr(r) for table in ("provider_keys", "encryption_data_keys")
                for r in db.execute(f"SELECT * FROM {table}")]
    finally:
        db.close()
    return "\n".join(rows)


def _rotate(tmp: Path, url: str, encryption_key: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **AWS, "AWS_ENDPOINT_URL_KMS": url, "ENCRYPTION_KEY": encryption_key,
           "DATA_DIR": str(tmp / "data"), "DATABASE_URL": f"sqlite:///{tmp / 'data' / 'proxy.db'}",
           "SECRET_KEY": "test-secret-key-for-hmac-0123456789",
           "ADMIN_API_KEY": "sk-admin-test-0123456789abcdef"}
    return subprocess.run([sys.executable, "-m", "proxy", "rotate-encryption"], cwd=tmp,
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.timeout(90)
def test_provider_keys_under_a_kms_data_key_survive_a_restart(
        tmp_path: Path, kms_url: str, upstream: FakeUpstream) -> None:
    key_id = _new_kms_key(kms_url)
    with _gateway(tmp_path, kms_url, f"aws-kms:{key_id}") as proc:
        client_key = _configure(proc, upstream)
        assert _ask(proc, client_key).status_code == 200
    stored = _db_text(tmp_path)
    assert UPSTREAM_KEY not in stored
    assert key_id in stored  # the wrapped data key row
    with _gateway(tmp_path, kms_url, f"aws-kms:{key_id}") as proc:
        answer = _ask(proc, client_key)
        assert answer.status_code == 200, answer.text


@pytest.mark.timeout(150)
def test_rotation_from_fernet_to_kms_and_back(
        tmp_path: Path, kms_url: str, upstream: FakeUpstream) -> None:
    key_id = _new_kms_key(kms_url)
    fernet_a, fernet_b = generate_fernet_key(), generate_fernet_key()
    with _gateway(tmp_path, kms_url, fernet_a) as proc:
        client_key = _configure(proc, upstream)
    to_kms = _rotate(tmp_path, kms_url, f"aws-kms:{key_id},{fernet_a}")
    assert to_kms.returncode == 0, to_kms.stderr
    with _gateway(tmp_path, kms_url, f"aws-kms:{key_id}") as proc:  # Fernet A is gone
        assert _ask(proc, client_key).status_code == 200
    back = _rotate(tmp_path, kms_url, f"{fernet_b},aws-kms:{key_id}")
    assert back.returncode == 0, back.stderr
    with _gateway(tmp_path, kms_url, fernet_b) as proc:  # KMS no longer needed
        assert _ask(proc, client_key).status_code == 200
    assert UPSTREAM_KEY not in _db_text(tmp_path)


@pytest.mark.timeout(60)
def test_kms_unreachable_at_start_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    proc = _gateway(tmp_path, dead, "aws-kms:alias/openai-proxy")
    with pytest.raises(RuntimeError):
        proc.start(timeout=40)
    assert proc.proc is not None and proc.proc.returncode == 1
    lines = [ln for ln in proc.logs().splitlines() if ln.strip()]
    assert "Traceback" not in proc.logs()
    assert any("ENCRYPTION_KEY" in ln and "aws-kms:alias/openai-proxy" in ln for ln in lines)


@pytest.mark.timeout(60)
async def test_two_replicas_starting_at_once_share_one_data_key(
        tmp_path: Path, kms_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from proxy.kms import open_keyring
    from proxy.store import apply_migrations, open_store

    for name, value in {**AWS, "AWS_ENDPOINT_URL_KMS": kms_url}.items():
        monkeypatch.setenv(name, value)
    url = f"sqlite:///{tmp_path / 'kms.db'}"
    await asyncio.to_thread(apply_migrations, url)
    store = await open_store(url)
    try:
        key_id = _new_kms_key(kms_url)
        first, second = await asyncio.gather(open_keyring(f"aws-kms:{key_id}", store),
                                             open_keyring(f"aws-kms:{key_id}", store))
        token = first.encrypt("secret value")
        assert second.decrypt(token) == "secret value"
        wrapped = await store.wrapped_data_key(key_id)
        assert wrapped is not None
        # stored wrapped by KMS, never as a usable Fernet key
        assert len(base64.b64decode(wrapped)) > 32
    finally:
        await store.aclose()
