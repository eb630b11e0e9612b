"""Schema migrations with yoyo-migrations: find them, apply them, tell what is applied.

Migrations live in ``migrations/`` (Python files; each step picks column types for the
backend it runs on). They are looked up in this order:

1. ``$MIGRATIONS_DIR`` when set;
2. ``<repo>/migrations`` next to the ``proxy`` package (source checkout, editable install);
3. ``<sys.prefix>/share/openai-proxy/migrations`` (installed wheel, via setuptools
   ``data-files``).

Several replicas may start at once. On PostgreSQL the whole run holds a session advisory
lock (``pg_advisory_lock``) on a dedicated connection, around yoyo's own lock table, so
one replica migrates while the others wait and then find nothing to do.
"""

from __future__ import annotations

import contextlib
import os
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from proxy.datadir import private_file
from proxy.store.base import MigrationError
from proxy.store.urls import DatabaseURL, parse_database_url

__all__ = [
    "MIGRATION_TABLE",
    "apply_migrations",
    "find_migrations_dir",
    "migration_ids",
]

MIGRATION_TABLE = "_yoyo_migration"
_ADVISORY_LOCK_ID = 0x6F70_656E_6169  # "openai" as a bigint; any fixed value works
_LOCK_TIMEOUT_S = 120


def _candidates() -> Iterator[Path]:
    env = os.environ.get("MIGRATIONS_DIR")
    if env:
        yield Path(env)
        return
    yield Path(__file__).resolve().parents[2] / "migrations"
    for prefix in {sysconfig.get_path("data"), sys.prefix}:
        yield Path(prefix) / "share" / "openai-proxy" / "migrations"


def find_migrations_dir() -> Path:
    for candidate in _candidates():
        if candidate.is_dir() and any(candidate.glob("*.py")):
            return candidate
    if os.environ.get("MIGRATIONS_DIR"):
        raise MigrationError("MIGRATIONS_DIR does not name a directory of migrations")
    raise MigrationError("no migrations directory found; set MIGRATIONS_DIR")


def migration_ids(directory: Path | None = None) -> frozenset[str]:
    """Ids (file stems) of the migrations a fully migrated database has applied."""
    directory = directory or find_migrations_dir()
    return frozenset(p.stem for p in directory.glob("*.py") if not p.name.startswith("_"))


@contextlib.contextmanager
def _cluster_lock(url: DatabaseURL) -> Iterator[None]:
    """Serialise migration runs across processes (PostgreSQL only; SQLite locks the file)."""
    if url.dsn is None:
        yield
        return
    import psycopg

    with psycopg.connect(url.dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"SET lock_timeout = '{_LOCK_TIMEOUT_S}s'")
        conn.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK_ID,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK_ID,))


def _applied_ids(url: DatabaseURL) -> frozenset[str]:
    """Ids the migration table records, read with the plain driver; empty when that
    cannot be told (no table yet, database unreachable: yoyo then says why)."""
    query = f"SELECT migration_id FROM {MIGRATION_TABLE}"
    if url.sqlite_path is not None:
        import sqlite3

        try:
            conn = sqlite3.connect(f"{url.sqlite_path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                rows = conn.execute(query).fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            return frozenset()
    else:
        import psycopg

        assert url.dsn is not None
        try:
            with psycopg.connect(url.dsn, connect_timeout=10) as pg:
                rows = pg.execute(query).fetchall()
        except psycopg.Error:
            return frozenset()
    return frozenset(str(row[0]) for row in rows)


def apply_migrations(database_url: str, migrations_dir: Path | None = None) -> int:
    """Apply pending migrations; return how many ran. Blocking: use ``asyncio.to_thread``.

    A database that has them all (every start but the first) is told so by one query,
    without importing yoyo (its modules stay out of the gateway's memory)."""
    url = parse_database_url(database_url)
    if url.sqlite_path is not None:
        private_file(url.sqlite_path.resolve())  # created 0600 before SQLite opens it
    directory = migrations_dir or find_migrations_dir()
    if migration_ids(directory) <= _applied_ids(url):
        return 0
    from yoyo import get_backend, read_migrations

    try:
        migrations = read_migrations(str(directory))
        for migration in migrations:
            migration.load()  # surface a broken file here: yoyo would skip it silently
        with _cluster_lock(url):
            backend = get_backend(url.yoyo_url, migration_table=MIGRATION_TABLE)
            try:
                with backend.lock(timeout=_LOCK_TIMEOUT_S):
                    pending = backend.to_apply(migrations)
                    for migration in pending:
                        backend.apply_one(migration)
                    return len(pending)
            finally:
                backend.connection.close()
    except MigrationError:
        raise
    except Exception as exc:  # yoyo, psycopg and sqlite3 errors share no base class
        raise MigrationError(f"migrations failed: {type(exc).__name__}: {exc}") from exc
