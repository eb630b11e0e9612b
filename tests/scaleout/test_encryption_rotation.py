"""Provider keys survive two generations of ENCRYPTION_KEY across restarts: rotated once
through ``POST /admin/encryption/rotate`` and once through ``python -m proxy
rotate-encryption``, each time the old key is dropped and every provider still works,
and the raw database never holds a provider key in plaintext."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from proxy.crypto import DecryptionError, KeyRing, generate_fernet_key
from tests.fakes import FakeUpstream
from tests.harness import ADMIN_KEY, REPO, ProxyProcess

from .cluster import SECRET_KEY, ScaleAdmin, sdk

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

UPSTREAM_KEYS = ("sk-rotation-upstream-one-1111", "sk-rotation-upstream-two-2222")
ALIASES = ("rot-one", "rot-two")
KEY_A, KEY_B = generate_fernet_key(), generate_fernet_key()
KEY_C = "a passphrase for the third generation of provider keys"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys=set(UPSTREAM_KEYS)) as upstream:
        yield upstream


def _env(database_url: str, encryption_key: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY,
            "ENCRYPTION_KEY": encryption_key, "ADMIN_API_KEY": ADMIN_KEY}


def _serve(tmp: Path, database_url: str, encryption_key: str) -> ProxyProcess:
    home = tmp / f"gen-{len(list(tmp.iterdir()))}"
    home.mkdir()
    return ProxyProcess(home, env=_env(database_url, encryption_key))


def _assert_providers_work(proc: ProxyProcess, client_key: str, fake: FakeUpstream) -> None:
    fake.reset_stats()
    with sdk(proc.url, client_key, timeout=10) as client:
        for alias in ALIASES:
            raw = client.chat.completions.with_raw_response.create(
                model=alias, messages=[{"role": "user", "content": "hi"}])
            assert raw.status_code == 200
            assert raw.headers["x-proxy-provider"] == alias
    assert fake.stats()["hits_by_key"] == {k: 1 for k in UPSTREAM_KEYS}


def _raw_database(database_url: str) -> tuple[str, list[str]]:
    """Every row of every table as text, and the stored provider-key ciphertexts."""
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        dump = "\n".join(
            str(row[0]) for table in tables for row in conn.execute(
                sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(table))))
        ciphertexts = [r[0] for r in conn.execute(
            "SELECT key_encrypted FROM provider_keys ORDER BY id")]
    return dump, ciphertexts


def _assert_encrypted_under(database_url: str, only_key: str, not_key: str) -> list[str]:
    dump, ciphertexts = _raw_database(database_url)
    assert len(ciphertexts) == len(UPSTREAM_KEYS)
    for plaintext in UPSTREAM_KEYS:
        assert plaintext not in dump
    assert sorted(KeyRing.parse(only_key).decrypt(c) for c in ciphertexts) == sorted(UPSTREAM_KEYS)
    for c in ciphertexts:
        with pytest.raises(DecryptionError):
            KeyRing.parse(not_key).decrypt(c)
    return ciphertexts


def _rotate_cli(tmp: Path, database_url: str, encryption_key: str
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", "rotate-encryption"], cwd=tmp, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO), "DATA_DIR": str(tmp / "cli-data"),
             **_env(database_url, encryption_key)},
        capture_output=True, text=True, check=False,
    )


def test_provider_keys_survive_rotation_by_api_and_by_cli(
        tmp_path: Path, database_url: str, fake: FakeUpstream) -> None:
    # generation A: providers and their keys are created
    with _serve(tmp_path, database_url, KEY_A) as proc:
        with ScaleAdmin(proc.url) as admin:
            for alias, upstream_key in zip(ALIASES, UPSTREAM_KEYS, strict=True):
                provider = admin.provider(alias, "openai", fake.base_url,
                                          keys=[upstream_key], max_retries=0)
                admin.mapping(alias, provider["id"], "gpt-rot")
            client_key = admin.client_key("rotation")
        _assert_providers_work(proc, client_key, fake)
    under_a = _assert_encrypted_under(database_url, KEY_A, KEY_B)

    # B added in front of A: old keys still decrypt; the API re-encrypts them under B
    with _serve(tmp_path, database_url, f"{KEY_B},{KEY_A}") as proc:
        _assert_providers_work(proc, client_key, fake)
        with ScaleAdmin(proc.url) as admin:
            assert admin.rotate_encryption()["reencrypted"] == len(UPSTREAM_KEYS)
        _assert_providers_work(proc, client_key, fake)
    under_b = _assert_encrypted_under(database_url, KEY_B, KEY_A)
    assert not set(under_a) & set(under_b)

    # B alone: A is gone and nothing needed it
    with _serve(tmp_path, database_url, KEY_B) as proc:
        _assert_providers_work(proc, client_key, fake)

    # the command line without the old key: refused, and nothing is half-rotated
    failed = _rotate_cli(tmp_path, database_url, KEY_C)
    assert failed.returncode != 0, failed.stdout
    assert "decrypt" in failed.stderr
    assert _raw_database(database_url)[1] == under_b

    # C (a passphrase) in front of B, rotated by the command line while no server runs
    done = _rotate_cli(tmp_path, database_url, f"{KEY_C},{KEY_B}")
    assert done.returncode == 0, done.stderr
    assert f"re-encrypted {len(UPSTREAM_KEYS)}" in done.stdout
    _assert_encrypted_under(database_url, KEY_C, KEY_B)

    with _serve(tmp_path, database_url, KEY_C) as proc:
        _assert_providers_work(proc, client_key, fake)
        logs = proc.logs()
    for home in tmp_path.glob("gen-*"):
        for log in home.glob("*.log"):
            text = log.read_text(errors="replace")
            assert not [k for k in UPSTREAM_KEYS if k in text], f"plaintext key in {log}"
    assert "cannot be decrypted" not in logs

