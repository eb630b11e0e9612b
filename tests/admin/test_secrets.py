"""No plaintext secret at rest, in a log line, or in a response (but the one-time key)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from proxy.config import Settings
from tests.admin.conftest import Api, serve

pytestmark = pytest.mark.timeout(60)

PROVIDER_KEY = "sk-upstream-PLAINTEXT-provider-key-1111"
ROTATED_KEY = "sk-upstream-PLAINTEXT-rotated-key-2222"
HEADER_SECRET = "PLAINTEXT-header-credential-3333"


def _sqlite_files(path: Path) -> bytes:
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    assert path.exists()
    return b"".join(f.read_bytes() for f in files if f.exists())


async def _at_rest(settings: Settings) -> bytes:
    """Everything the database holds, as bytes: the SQLite files, or every PostgreSQL row."""
    url = settings.database_url
    if url.startswith("sqlite"):
        return await asyncio.to_thread(_sqlite_files, Path(urlsplit(url).path))
    conn = await asyncpg.connect(url, timeout=10)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        chunks: list[str] = []
        for table in tables:
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{table[0]}" t')
            chunks.extend(r["row"] for r in rows)
        assert any("key_encrypted" not in c for c in chunks)
        return "\n".join(chunks).encode()
    finally:
        await conn.close(timeout=10)


async def _exercise(api: Api) -> tuple[str, str]:
    provider = await api.provider("sec", config={"headers": {"Authorization": HEADER_SECRET}})
    key = await api.provider_key(provider["id"], PROVIDER_KEY)
    await api.ok("GET", "/admin/keys")
    # refused bodies must not echo the secret either
    (await api.call("POST", "/admin/keys", {"provider_id": provider["id"] + 50, "name": "k",
                                            "key": PROVIDER_KEY})).error(400)
    (await api.call("POST", "/admin/keys", {"provider_id": provider["id"], "name": 1,
                                            "key": PROVIDER_KEY})).error(400)
    await api.ok("POST", f"/admin/keys/{key['id']}/rotate", {"key": ROTATED_KEY})
    await api.mapping("s", provider["id"])
    client = (await api.client_key("user"))["key"]
    admin = (await api.client_key("ops", is_admin=True))["key"]
    assert (await api.chat("s", client)).status == 200
    await api.ok("GET", "/admin/api-keys", key=admin)
    await api.ok("GET", "/admin/providers", key=admin)
    await api.ok("GET", "/admin/health", key=admin)
    await api.ok("POST", "/admin/encryption/rotate", key=admin)
    return client, admin


async def test_no_plaintext_at_rest_in_logs_or_responses(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serve(settings) as api:
        client, admin = await _exercise(api)
        live = await _at_rest(settings)
    closed = await _at_rest(settings)

    for blob in (live, closed):
        for secret in (PROVIDER_KEY, ROTATED_KEY, HEADER_SECRET, client, admin):
            assert secret.encode() not in blob, secret
    assert PROVIDER_KEY[-4:].encode() not in closed  # the rotated key's last 4 replaced it

    logged = caplog.text + "".join(repr(vars(r)) for r in caplog.records)
    assert "admin: provider key created" in logged  # the changes were logged ...
    for secret in (PROVIDER_KEY, ROTATED_KEY, HEADER_SECRET, client, admin):
        assert secret not in logged, secret  # ... without their secrets
    assert "admin: provider created" in logged

    responses = "\n".join(api.seen)
    for secret in (PROVIDER_KEY, ROTATED_KEY, HEADER_SECRET):
        assert secret not in responses, secret
    for secret in (client, admin):  # only in its own creation response
        assert sum(secret in text for text in api.seen) == 1
    assert "****2222" in responses and "****3333" in responses
