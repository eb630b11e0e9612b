"""Store fixtures: a migrated database of either backend, a fresh one per test.

PostgreSQL tests get their own database (``CREATE DATABASE test_<random>``) on the server
from ``tests.services``, dropped afterwards, so they are isolated and can run in parallel.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from proxy.store import Store, apply_migrations, open_store
from tests.services import scratch_database

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    with scratch_database("test_store") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db' / 'proxy.db'}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each backend (not migrated)."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    await asyncio.to_thread(apply_migrations, database_url)
    return database_url


@pytest.fixture
async def store(migrated_url: str) -> AsyncIterator[Store]:
    opened = await open_store(migrated_url)
    try:
        yield opened
    finally:
        await opened.aclose()
