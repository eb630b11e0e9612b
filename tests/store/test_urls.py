"""DATABASE_URL parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.store import InvalidDatabaseURL, parse_database_url

pytestmark = pytest.mark.timeout(5)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/proxy.db", Path("data/proxy.db")),
        ("sqlite:////var/lib/proxy.db", Path("/var/lib/proxy.db")),
        ("sqlite+aiosqlite:///x.db", Path("x.db")),
    ],
)
def test_sqlite_urls(url: str, path: Path) -> None:
    parsed = parse_database_url(url)
    assert (parsed.backend, parsed.sqlite_path, parsed.dsn) == ("sqlite", path, None)
    assert parsed.yoyo_url == "sqlite:///" + str(path.resolve())


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@db:5432/proxy?sslmode=require",
        "postgres://u:p@db:5432/proxy?sslmode=require",
        "postgresql+asyncpg://u:p@db:5432/proxy?sslmode=require",
    ],
)
def test_postgres_urls(url: str) -> None:
    parsed = parse_database_url(url)
    assert parsed.backend == "postgresql"
    assert parsed.dsn == "postgresql://u:p@db:5432/proxy?sslmode=require"
    assert parsed.yoyo_url == "postgresql+psycopg://u:p@db:5432/proxy?sslmode=require"


@pytest.mark.parametrize(
    "url", ["", "proxy.db", "mysql://u:hunter2@h/db", "sqlite://", "sqlite:///", "sqlite:///:memory:"]
)
def test_bad_urls_are_rejected_without_echoing_secrets(url: str) -> None:
    with pytest.raises(InvalidDatabaseURL) as error:
        parse_database_url(url)
    assert "DATABASE_URL" in str(error.value)
    assert "hunter2" not in str(error.value)
