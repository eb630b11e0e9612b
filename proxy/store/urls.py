"""``DATABASE_URL`` parsing: which backend, and the URL each driver wants.

Accepted forms::

    sqlite:///relative/path.db     (relative to the working directory)
    sqlite:////absolute/path.db
    postgresql://user:pass@host:5432/db?sslmode=require
    postgres://…                   (same as postgresql://)
    postgresql+asyncpg://…, postgresql+psycopg://…   (driver suffix ignored)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from proxy.store.base import InvalidDatabaseURL

__all__ = ["DatabaseURL", "parse_database_url"]


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    backend: Literal["sqlite", "postgresql"]
    sqlite_path: Path | None = None
    dsn: str | None = None  # postgresql://… for asyncpg and psycopg

    @property
    def yoyo_url(self) -> str:
        """The URL yoyo-migrations wants: SQLite by absolute path, PostgreSQL via psycopg 3."""
        if self.sqlite_path is not None:
            return "sqlite:///" + str(self.sqlite_path.resolve())
        assert self.dsn is not None
        return "postgresql+psycopg://" + self.dsn.removeprefix("postgresql://")


def parse_database_url(url: str) -> DatabaseURL:
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidDatabaseURL(
            "DATABASE_URL must look like sqlite:///path/to/file.db or postgresql://host/db"
        )
    base = scheme.lower().split("+", 1)[0]
    if base == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise InvalidDatabaseURL("DATABASE_URL: sqlite URLs need a path, sqlite:///file.db")
        path = rest[1:].split("?", 1)[0]
        if path in ("", ":memory:"):
            raise InvalidDatabaseURL("DATABASE_URL: sqlite needs a file path, not memory")
        return DatabaseURL(backend="sqlite", sqlite_path=Path(path))
    if base in ("postgresql", "postgres"):
        if not rest:
            raise InvalidDatabaseURL("DATABASE_URL: postgresql URL has no host or database")
        return DatabaseURL(backend="postgresql", dsn="postgresql://" + rest)
    raise InvalidDatabaseURL(
        f"DATABASE_URL: unsupported scheme {scheme!r} (use sqlite:/// or postgresql://)"
    )
