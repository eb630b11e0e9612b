"""Provider keys are encrypted at rest: the plaintext never reaches the database's bytes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from proxy.crypto import KeyRing, generate_fernet_key, key_last4
from proxy.header_secrets import open_headers, seal_plaintext_headers
from proxy.store import Store, apply_migrations, open_store, parse_database_url

pytestmark = pytest.mark.timeout(30)

SECRET = "sk-live-THIS-MUST-NEVER-BE-STORED-IN-CLEAR-0123456789"


async def _store_secret(url: str) -> str:
    """Store SECRET encrypted through a fresh store; return the stored token."""
    await asyncio.to_thread(apply_migrations, url)
    ring = KeyRing([generate_fernet_key()])
    store = await open_store(url)
    try:
        provider = await store.create_provider(
            name="openai", provider_type="openai", base_url="https://api.openai.com/v1",
            config={}, enabled=True,
        )
        row = await store.create_provider_key(
            provider_id=provider.id, name="main", key_encrypted=ring.encrypt(SECRET),
            key_last4=key_last4(SECRET),
        )
        assert ring.decrypt(row.key_encrypted) == SECRET  # it is really there, encrypted
        return row.key_encrypted
    finally:
        await store.aclose()


def _read_bytes(paths: list[Path]) -> bytes:
    return b"".join(p.read_bytes() for p in paths if p.exists())


async def test_sqlite_files_never_hold_the_plaintext_key(sqlite_url: str) -> None:
    token = await _store_secret(sqlite_url)
    db = parse_database_url(sqlite_url).sqlite_path
    assert db is not None
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    raw = await asyncio.to_thread(_read_bytes, files)
    assert token.encode() in raw  # the read sees the stored data at all
    assert SECRET.encode() not in raw
    assert SECRET[:-4].encode() not in raw


async def test_postgres_rows_never_hold_the_plaintext_key(pg_url: str) -> None:
    token = await _store_secret(pg_url)
    conn = await asyncpg.connect(pg_url)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        dump = []
        for (table,) in tables:
            rows = await conn.fetch(f'SELECT t::text FROM "{table}" AS t')
            dump += [r[0] for r in rows]
    finally:
        await conn.close()
    text = "\n".join(dump)
    assert token in text
    assert SECRET not in text
    assert SECRET[:-4] not in text


async def test_plaintext_headers_of_older_versions_are_sealed_and_rotated(store: Store) -> None:
    old, new = generate_fernet_key(), generate_fernet_key()
    ring = KeyRing([old])
    # what a version before migration 0002 stored: headers inside the config, in clear
    row = await store.create_provider(
        name="azure", provider_type="custom", base_url="https://example.test/v1",
        config={"headers": {"api-key": SECRET}, "timeout": 5}, enabled=True,
    )
    assert await seal_plaintext_headers(store, ring) == 1
    sealed = await store.get_provider(row.id)
    assert sealed is not None and sealed.config == {"timeout": 5}
    assert sealed.headers_encrypted and SECRET not in sealed.headers_encrypted
    assert open_headers(ring, sealed.headers_encrypted) == {"api-key": SECRET}
    assert await seal_plaintext_headers(store, ring) == 0  # nothing left to do
    # rotate-encryption re-encrypts the headers with the keys
    rotated_ring = KeyRing([new, old])
    assert await store.reencrypt_provider_keys(rotated_ring.rotate) == 1
    rotated = await store.get_provider(row.id)
    assert rotated is not None and rotated.headers_encrypted != sealed.headers_encrypted
    assert open_headers(KeyRing([new]), rotated.headers_encrypted) == {"api-key": SECRET}
