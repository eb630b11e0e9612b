"""Persistence: ``open_store(DATABASE_URL)`` gives a ``Store`` (SQLite or PostgreSQL).

Typical start-up::

    applied = await asyncio.to_thread(apply_migrations, settings.database_url)
    store = await open_store(settings.database_url)
    try:
        ...
    finally:
        await store.aclose()
"""

from __future__ import annotations

import asyncio

from proxy.store.base import (
    ApiKeyRow,
    AuditFilter,
    AuditRecord,
    ConfigSnapshot,
    Conflict,
    InvalidDatabaseURL,
    MappingRow,
    MigrationError,
    MissingReference,
    ProviderKeyRow,
    ProviderRow,
    Store,
    StoreError,
    StoreUnavailable,
)
from proxy.store.migrate import apply_migrations, find_migrations_dir, migration_ids
from proxy.store.urls import DatabaseURL, parse_database_url

__all__ = [
    "ApiKeyRow",
    "AuditFilter",
    "AuditRecord",
    "ConfigSnapshot",
    "Conflict",
    "DatabaseURL",
    "InvalidDatabaseURL",
    "MappingRow",
    "MigrationError",
    "MissingReference",
    "ProviderKeyRow",
    "ProviderRow",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "apply_migrations",
    "find_migrations_dir",
    "open_store",
    "parse_database_url",
]


async def _expected_migrations() -> frozenset[str]:
    try:
        return await asyncio.to_thread(migration_ids)
    except MigrationError:
        return frozenset()  # is_migrated() then only checks that the schema exists


async def open_store(database_url: str) -> Store:
    """Open the database named by ``database_url``; close it with ``await store.aclose()``.

    Does not migrate (see ``apply_migrations``). For SQLite the file's directory is created.
    Raises ``InvalidDatabaseURL`` for a bad URL and ``StoreUnavailable`` when PostgreSQL
    cannot be reached.
    """
    url = parse_database_url(database_url)
    expected = await _expected_migrations()
    if url.sqlite_path is not None:
        from proxy.store.sqlite import SQLiteStore

        return await SQLiteStore.open(url.sqlite_path, expected_migrations=expected)
    from proxy.store.postgres import PostgresStore

    assert url.dsn is not None
    return await PostgresStore.open(url.dsn, expected_migrations=expected)
