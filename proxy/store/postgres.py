"""PostgreSQL store: an asyncpg pool, NOTIFY on every config change, a self-healing LISTEN.

Config writes lock the single ``config_version`` row first (``SELECT … FOR UPDATE``), so
they are serialised across replicas and the uniqueness / reference checks in ``SqlStore``
cannot race; the unique constraints (mapped by name to ``Conflict``) remain the backstop.

After a database blip the pool replaces dead connections on the next acquire; a call that
was in flight when the connection died raises ``StoreUnavailable`` and the next one works.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from proxy.store import codec
from proxy.store.base import Conflict, MissingReference, StoreError, StoreUnavailable
from proxy.store.pg_listen import CHANNEL, ConfigListener
from proxy.store.sql import SqlStore

__all__ = ["PostgresStore"]

_PLACEHOLDER = re.compile(r"\?")
_CONSTRAINT_FIELDS = {
    "providers_name_key": "name",
    "model_mappings_alias_order_key": "order_index",
    "model_mappings_member_key": "order_index",
    "api_keys_key_hash_key": "key_hash",
}
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.UndefinedTableError,
)
# What a dead pooled connection raises besides the above (asyncpg may hand one out
# before it has noticed the server closed it).
_STALE = (*_UNAVAILABLE, asyncpg.InternalClientError, asyncpg.InterfaceError)
_BEGIN_ATTEMPTS = 3


def _numbered(sql: str) -> str:
    """``?`` placeholders → ``$1, $2, …`` (our SQL has no other question marks)."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)


def _discard(conn: Any) -> None:
    """Close a broken pooled connection so that the pool replaces it."""
    with contextlib.suppress(asyncpg.InterfaceError):  # already detached by asyncpg
        conn.terminate()


class _PgTx:
    __slots__ = ("_conn",)

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        return list(await self._conn.fetch(_numbered(sql), *args))

    async def fetchrow(self, sql: str, *args: Any) -> Any | None:
        return await self._conn.fetchrow(_numbered(sql), *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(_numbered(sql), rows)


class PostgresStore(SqlStore):
    _hour_sql = "FLOOR(EXTRACT(EPOCH FROM created_at) / 3600)::BIGINT"
    backend = "postgresql"

    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        *,
        expected_migrations: frozenset[str],
        acquire_timeout: float = 10.0,
    ) -> None:
        super().__init__(expected_migrations=expected_migrations)
        self._pool = pool
        self._dsn = dsn
        self._acquire_timeout = acquire_timeout
        self._listener: ConfigListener | None = None
        self._closed = False

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        expected_migrations: frozenset[str],
        min_size: int = 1,
        max_size: int = 10,
        command_timeout: float = 30.0,
    ) -> PostgresStore:
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, command_timeout=command_timeout
            )
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"PostgreSQL unavailable: {type(exc).__name__}") from exc
        return cls(pool, dsn, expected_migrations=expected_migrations)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._listener is not None:
            await self._listener.aclose()
            self._listener = None
        try:
            await self._pool.close()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._pool.terminate()

    def _ts(self, value: datetime) -> datetime:
        return codec.utc(value)

    async def _begin(self, *, write: bool) -> tuple[Any, Any]:
        """A pooled connection with its transaction started.

        A connection the server closed while it sat idle in the pool (restart, failover,
        ``pg_terminate_backend``) fails on ``BEGIN``; nothing has run yet, so it is thrown
        away, the pool is told to replace every connection it holds (they most likely died
        together), and the call is tried again.
        """
        failure: BaseException | None = None
        for _ in range(_BEGIN_ATTEMPTS):
            conn = await self._pool.acquire(timeout=self._acquire_timeout)
            try:
                isolation = "read_committed" if write else "repeatable_read"
                transaction = conn.transaction(isolation=isolation, readonly=not write)
                await transaction.start()
                return conn, transaction
            except _STALE as exc:
                failure = exc
                _discard(conn)
                await self._pool.release(conn)
                await self._pool.expire_connections()
            except BaseException:
                await self._pool.release(conn)
                raise
        raise StoreUnavailable(f"PostgreSQL unavailable: {type(failure).__name__}") from failure

    @contextlib.asynccontextmanager
    async def _transaction(self, *, write: bool) -> AsyncIterator[_PgTx]:
        if self._closed:
            raise StoreUnavailable("store is closed")
        try:
            conn, transaction = await self._begin(write=write)
            try:
                try:
                    yield _PgTx(conn)
                except BaseException:
                    try:
                        await transaction.rollback()
                    except _STALE:
                        _discard(conn)
                    raise
                await transaction.commit()
            finally:
                await self._pool.release(conn)
        except asyncpg.UniqueViolationError as exc:
            field = _CONSTRAINT_FIELDS.get(exc.constraint_name or "", "unknown")
            raise Conflict(field, f"duplicate value for {field}") from exc
        except asyncpg.ForeignKeyViolationError as exc:
            raise MissingReference("provider_id", "referenced provider does not exist") from exc
        except _STALE as exc:
            raise StoreUnavailable(f"PostgreSQL unavailable: {type(exc).__name__}") from exc

    async def _lock_config(self, tx: Any) -> None:
        await tx.fetchrow("SELECT version FROM config_version WHERE id = 1 FOR UPDATE")

    async def _announce(self, tx: Any, version: int) -> None:
        await tx.fetchrow("SELECT pg_notify(?, ?)", CHANNEL, str(version))

    async def listen(self, on_change: Callable[[], None]) -> None:
        self._changes.add(on_change)
        if self._listener is None and not self._closed:
            with contextlib.suppress(StoreError):  # the first check sets it instead
                self._changes.seen(await self.config_version())
            self._listener = ConfigListener(self._dsn, self._changes)
            self._listener.start()

    @property
    def listener_connected(self) -> bool:
        """True while the LISTEN connection is up (for health reporting and tests)."""
        return self._listener is not None and self._listener.connected.is_set()

    async def wait_listening(self) -> None:
        """Wait until the LISTEN connection is up; the caller sets the deadline."""
        if self._listener is None:
            raise RuntimeError("listen() has not been called")
        await self._listener.connected.wait()
