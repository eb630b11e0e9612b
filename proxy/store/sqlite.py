"""SQLite store (embedded default): one aiosqlite connection, WAL, foreign keys on.

All access goes through one connection guarded by an ``asyncio.Lock``: a transaction never
interleaves with another coroutine's statements, and writes are serialised (``BEGIN
IMMEDIATE`` also takes SQLite's write lock up front, so another process, e.g. the
``create-api-key`` command, cannot race a check-then-insert).

There is no NOTIFY: ``listen`` polls ``config_version`` (every ``poll_interval`` seconds)
to pick up changes made by other processes; changes made through this store fire at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from proxy.store import codec
from proxy.store.base import Conflict, MissingReference, StoreError, StoreUnavailable
from proxy.store.sql import SqlStore

__all__ = ["SQLiteStore"]

log = logging.getLogger("proxy.store")

_UNIQUE = re.compile(r"UNIQUE constraint failed: (?:.*[ ,])?\w+\.(\w+)$")
_BUSY_TIMEOUT_MS = 5000


def _make_parent(path: Path) -> None:
    path.resolve().parent.mkdir(parents=True, exist_ok=True)


class _SqliteTx:
    __slots__ = ("_db",)

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        return list(await self._db.execute_fetchall(sql, args))

    async def fetchrow(self, sql: str, *args: Any) -> Any | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._db.executemany(sql, rows)


def _translate(exc: sqlite3.Error) -> StoreError:
    message = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        # Explicit checks in SqlStore come first; this is the backstop.
        if match := _UNIQUE.search(message):
            return Conflict(match.group(1), f"duplicate value for {match.group(1)}")
        if "FOREIGN KEY" in message:
            return MissingReference("provider_id", "referenced provider does not exist")
        return StoreError(f"sqlite integrity error: {message}")
    return StoreUnavailable(f"sqlite: {message}")


class SQLiteStore(SqlStore):
    backend = "sqlite"
    _hour_sql = "CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER) / 3600"

    def __init__(
        self,
        db: aiosqlite.Connection,
        *,
        expected_migrations: frozenset[str],
        poll_interval: float = 1.0,
    ) -> None:
        super().__init__(expected_migrations=expected_migrations)
        self._db = db
        self._lock = asyncio.Lock()
        self._poll_interval = poll_interval
        self._poller: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(
        cls, path: Path, *, expected_migrations: frozenset[str], poll_interval: float = 1.0
    ) -> SQLiteStore:
        await asyncio.to_thread(_make_parent, path)
        db = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            await db.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            await db.close()
            raise
        return cls(db, expected_migrations=expected_migrations, poll_interval=poll_interval)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        async with self._lock:
            await self._db.close()

    def _ts(self, value: datetime) -> str:
        return codec.ts_text(value)

    @contextlib.asynccontextmanager
    async def _transaction(self, *, write: bool) -> AsyncIterator[_SqliteTx]:
        if self._closed:
            raise StoreUnavailable("store is closed")
        async with self._lock:
            db = self._db
            try:
                if db.in_transaction:  # left open by a call cancelled mid-transaction
                    await db.rollback()
                await db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield _SqliteTx(db)
                except BaseException:
                    await db.rollback()
                    raise
                await db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise _translate(exc) from exc

    async def listen(self, on_change: Callable[[], None]) -> None:
        self._changes.add(on_change)
        if self._poller is None and not self._closed:
            with contextlib.suppress(StoreError):  # the first check sets it instead
                self._changes.seen(await self.config_version())
            self._poller = asyncio.create_task(self._poll(), name="sqlite-config-poll")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                version = await self.config_version()
            except StoreError as exc:
                log.warning("config version poll failed: %s", exc)
                continue
            self._changes.changed(version)
