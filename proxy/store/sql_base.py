"""Base of the SQL store: backend hooks, config-change bookkeeping, health, helpers.

SQL here uses ``?`` placeholders and only constructs both engines share (``RETURNING``,
``ON CONFLICT``). A backend provides ``_transaction`` (yielding a ``Tx``), a timestamp
encoder, and optionally ``_lock_config`` / ``_announce`` for config writes.

Every configuration write runs in ``_config_change``: the config lock is taken first (so
config writes are serialised and the uniqueness checks below cannot race), the change is
made, ``config_version`` is bumped and announced in the same transaction, and after commit
the local change callbacks run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from proxy.store import codec
from proxy.store.base import MissingReference, StoreError
from proxy.store.changes import ChangeFanout
from proxy.store.migrate import MIGRATION_TABLE

__all__ = ["SqlBase", "Tx", "returning"]


class Tx(Protocol):
    async def fetch(self, sql: str, *args: Any) -> list[Any]: ...
    async def fetchrow(self, sql: str, *args: Any) -> Any | None: ...
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


async def returning(tx: Tx, sql: str, *args: Any) -> Any:
    """The row an ``INSERT/UPDATE … RETURNING`` must produce."""
    row = await tx.fetchrow(sql, *args)
    if row is None:
        raise StoreError("the database returned no row (is the schema migrated?)")
    return row


@dataclass(slots=True)
class _Change:
    tx: Tx
    dirty: bool = False


class SqlBase:
    backend: str

    def __init__(self, *, expected_migrations: frozenset[str]) -> None:
        self._expected_migrations = expected_migrations
        self._changes = ChangeFanout()

    # -- backend hooks ----------------------------------------------------------------
    def _transaction(self, *, write: bool) -> AbstractAsyncContextManager[Tx]:
        raise NotImplementedError

    def _ts(self, value: datetime) -> Any:
        raise NotImplementedError

    async def _lock_config(self, tx: Tx) -> None:
        """Serialise config writes (PostgreSQL: row lock; SQLite: BEGIN IMMEDIATE did it)."""

    async def _announce(self, tx: Tx, version: int) -> None:
        """Tell other replicas, inside the transaction (PostgreSQL: pg_notify)."""

    @asynccontextmanager
    async def _config_change(self) -> AsyncIterator[_Change]:
        version = 0
        async with self._transaction(write=True) as tx:
            await self._lock_config(tx)
            change = _Change(tx)
            yield change
            if change.dirty:
                row = await returning(
                    tx,
                    "UPDATE config_version SET version = version + 1 WHERE id = 1 "
                    "RETURNING version",
                )
                version = int(row[0])
                await self._announce(tx, version)
        if change.dirty:
            self._changes.changed(version)

    # -- health -----------------------------------------------------------------------
    async def ping(self, deadline: float = 5.0) -> bool:
        """True when the database answers within ``deadline`` seconds; never raises."""
        try:
            async with asyncio.timeout(deadline), self._transaction(write=False) as tx:
                await tx.fetch("SELECT 1")
        except (StoreError, TimeoutError):
            return False
        return True

    async def is_migrated(self) -> bool:
        try:
            async with self._transaction(write=False) as tx:
                rows = await tx.fetch(f"SELECT migration_id FROM {MIGRATION_TABLE}")
                await tx.fetch("SELECT version FROM config_version")
        except (StoreError, TimeoutError):
            return False
        return self._expected_migrations <= {row[0] for row in rows}

    # -- configuration ------------------------------------------------------------------
    async def config_version(self) -> int:
        async with self._transaction(write=False) as tx:
            row = await tx.fetchrow("SELECT version FROM config_version WHERE id = 1")
        return int(row[0]) if row is not None else 0
    async def _fetch_all(self, sql: str, *args: Any) -> list[Any]:
        async with self._transaction(write=False) as tx:
            return await tx.fetch(sql, *args)

    async def _fetch_one(self, sql: str, *args: Any) -> Any | None:
        async with self._transaction(write=False) as tx:
            return await tx.fetchrow(sql, *args)

    async def _require_provider(self, tx: Tx, provider_id: int) -> None:
        if await tx.fetchrow("SELECT id FROM providers WHERE id = ?", provider_id) is None:
            raise MissingReference("provider_id", f"provider {provider_id} does not exist")

    async def _update(self, tx: Tx, table: str, row_id: int, fields: dict[str, Any]) -> Any:
        # Column names come from the whitelists in codec, never from the caller directly.
        names = sorted(fields)
        sets = ", ".join(f"{name} = ?" for name in names)
        values = [codec.encode_field(name, fields[name]) for name in names]
        return await tx.fetchrow(
            f"UPDATE {table} SET {sets}, updated_at = ? WHERE id = ? RETURNING *",
            *values,
            self._ts(codec.utc_now()),
            row_id,
        )

    async def _delete(self, table: str, row_id: int) -> bool:
        async with self._config_change() as change:
            row = await change.tx.fetchrow(f"DELETE FROM {table} WHERE id = ? RETURNING id", row_id)
            change.dirty = row is not None
        return change.dirty
