"""The store's queries, written once; SQLite and PostgreSQL supply transactions.

SQL here uses ``?`` placeholders and only constructs both engines share (``RETURNING``,
``ON CONFLICT``). A backend provides ``_transaction`` (yielding a ``Tx``), a timestamp
encoder, and optionally ``_lock_config`` / ``_announce`` for config writes.

Every configuration write runs in ``_config_change``: the config lock is taken first (so
config writes are serialised and the uniqueness checks below cannot race), the change is
made, ``config_version`` is bumped and announced in the same transaction, and after commit
the local change callbacks run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from proxy.store import codec
from proxy.store.base import (
    ApiKeyRow,
    AuditFilter,
    AuditRecord,
    ConfigSnapshot,
    Conflict,
    MappingRow,
    MissingReference,
    ProviderKeyRow,
    ProviderRow,
    StoreError,
)
from proxy.store.changes import ChangeFanout
from proxy.store.migrate import MIGRATION_TABLE

__all__ = ["SqlStore", "Tx"]

_INSERT_AUDIT = (
    f"INSERT INTO audit_log ({', '.join(codec.AUDIT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in codec.AUDIT_COLUMNS)})"
)


class Tx(Protocol):
    async def fetch(self, sql: str, *args: Any) -> list[Any]: ...
    async def fetchrow(self, sql: str, *args: Any) -> Any | None: ...
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


async def _returning(tx: Tx, sql: str, *args: Any) -> Any:
    """The row an ``INSERT/UPDATE … RETURNING`` must produce."""
    row = await tx.fetchrow(sql, *args)
    if row is None:
        raise StoreError("the database returned no row (is the schema migrated?)")
    return row


@dataclass(slots=True)
class _Change:
    tx: Tx
    dirty: bool = False


class SqlStore:
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
                row = await _returning(
                    tx,
                    "UPDATE config_version SET version = version + 1 WHERE id = 1 "
                    "RETURNING version",
                )
                version = int(row[0])
                await self._announce(tx, version)
        if change.dirty:
            self._changes.changed(version)

    # -- health -----------------------------------------------------------------------
    async def ping(self) -> bool:
        try:
            async with self._transaction(write=False) as tx:
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

    async def load_config(self) -> ConfigSnapshot:
        async with self._transaction(write=False) as tx:
            row = await tx.fetchrow("SELECT version FROM config_version WHERE id = 1")
            providers = await tx.fetch("SELECT * FROM providers ORDER BY id")
            keys = await tx.fetch("SELECT * FROM provider_keys ORDER BY id")
            mappings = await tx.fetch(
                "SELECT * FROM model_mappings ORDER BY alias_name, order_index, id"
            )
            api_keys = await tx.fetch("SELECT * FROM api_keys ORDER BY id")
        return ConfigSnapshot(
            version=int(row[0]) if row is not None else 0,
            providers=[codec.provider_from_row(r) for r in providers],
            provider_keys=[codec.key_from_row(r) for r in keys],
            mappings=[codec.mapping_from_row(r) for r in mappings],
            api_keys=[codec.api_key_from_row(r) for r in api_keys],
        )

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

    # -- providers --------------------------------------------------------------------
    async def list_providers(self) -> list[ProviderRow]:
        rows = await self._fetch_all("SELECT * FROM providers ORDER BY id")
        return [codec.provider_from_row(r) for r in rows]

    async def get_provider(self, provider_id: int) -> ProviderRow | None:
        row = await self._fetch_one("SELECT * FROM providers WHERE id = ?", provider_id)
        return None if row is None else codec.provider_from_row(row)

    async def _check_provider_name(self, tx: Tx, name: str, exclude_id: int) -> None:
        sql = "SELECT id FROM providers WHERE name = ? AND id <> ?"
        if await tx.fetchrow(sql, name, exclude_id) is not None:
            raise Conflict("name", f"a provider named {name!r} already exists")

    async def create_provider(
        self, *, name: str, provider_type: str, base_url: str, config: dict[str, Any], enabled: bool
    ) -> ProviderRow:
        now = self._ts(codec.utc_now())
        async with self._config_change() as change:
            await self._check_provider_name(change.tx, name, -1)
            row = await _returning(
                change.tx,
                "INSERT INTO providers (name, provider_type, base_url, config, enabled, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                name, provider_type, base_url, codec.dump_json(config), bool(enabled), now, now,
            )
            change.dirty = True
        return codec.provider_from_row(row)

    async def update_provider(self, provider_id: int, **fields: Any) -> ProviderRow | None:
        codec.check_fields(fields, codec.PROVIDER_FIELDS, "provider")
        if not fields:
            return await self.get_provider(provider_id)
        async with self._config_change() as change:
            if "name" in fields:
                await self._check_provider_name(change.tx, fields["name"], provider_id)
            row = await self._update(change.tx, "providers", provider_id, fields)
            change.dirty = row is not None
        return None if row is None else codec.provider_from_row(row)

    async def delete_provider(self, provider_id: int) -> bool:
        return await self._delete("providers", provider_id)

    # -- provider keys ------------------------------------------------------------------
    async def list_provider_keys(self, provider_id: int | None = None) -> list[ProviderKeyRow]:
        if provider_id is None:
            rows = await self._fetch_all("SELECT * FROM provider_keys ORDER BY id")
        else:
            rows = await self._fetch_all(
                "SELECT * FROM provider_keys WHERE provider_id = ? ORDER BY id", provider_id
            )
        return [codec.key_from_row(r) for r in rows]

    async def get_provider_key(self, key_id: int) -> ProviderKeyRow | None:
        row = await self._fetch_one("SELECT * FROM provider_keys WHERE id = ?", key_id)
        return None if row is None else codec.key_from_row(row)

    async def create_provider_key(
        self, *, provider_id: int, name: str, key_encrypted: str, key_last4: str
    ) -> ProviderKeyRow:
        now = self._ts(codec.utc_now())
        async with self._config_change() as change:
            await self._require_provider(change.tx, provider_id)
            row = await _returning(
                change.tx,
                "INSERT INTO provider_keys (provider_id, name, key_encrypted, key_last4, healthy, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                provider_id, name, key_encrypted, key_last4, True, now, now,
            )
            change.dirty = True
        return codec.key_from_row(row)

    async def update_provider_key(self, key_id: int, **fields: Any) -> ProviderKeyRow | None:
        codec.check_fields(fields, codec.KEY_FIELDS, "provider key")
        if not fields:
            return await self.get_provider_key(key_id)
        async with self._config_change() as change:
            row = await self._update(change.tx, "provider_keys", key_id, fields)
            change.dirty = row is not None
        return None if row is None else codec.key_from_row(row)

    async def delete_provider_key(self, key_id: int) -> bool:
        return await self._delete("provider_keys", key_id)

    async def reencrypt_provider_keys(self, reencrypt: Callable[[str], str]) -> int:
        """Re-encrypt every key in one transaction; if ``reencrypt`` raises, nothing changes."""
        now = self._ts(codec.utc_now())
        async with self._config_change() as change:
            rows = await change.tx.fetch("SELECT id, key_encrypted FROM provider_keys ORDER BY id")
            updates = [(reencrypt(r["key_encrypted"]), now, r["id"]) for r in rows]
            if updates:
                await change.tx.executemany(
                    "UPDATE provider_keys SET key_encrypted = ?, updated_at = ? WHERE id = ?",
                    updates,
                )
                change.dirty = True
        return len(updates)

    # -- model mappings -----------------------------------------------------------------
    async def list_mappings(self) -> list[MappingRow]:
        rows = await self._fetch_all(
            "SELECT * FROM model_mappings ORDER BY alias_name, order_index, id"
        )
        return [codec.mapping_from_row(r) for r in rows]

    async def get_mapping(self, mapping_id: int) -> MappingRow | None:
        row = await self._fetch_one("SELECT * FROM model_mappings WHERE id = ?", mapping_id)
        return None if row is None else codec.mapping_from_row(row)

    async def _check_mapping_slot(self, tx: Tx, alias: str, order: int, exclude_id: int) -> None:
        sql = "SELECT id FROM model_mappings WHERE alias_name = ? AND order_index = ? AND id <> ?"
        if await tx.fetchrow(sql, alias, order, exclude_id) is not None:
            raise Conflict("order_index", f"alias {alias!r} already has order_index {order}")

    async def create_mapping(
        self,
        *,
        alias_name: str,
        provider_id: int,
        provider_model_name: str,
        order_index: int,
        is_default: bool,
        config: dict[str, Any],
    ) -> MappingRow:
        now = self._ts(codec.utc_now())
        async with self._config_change() as change:
            await self._require_provider(change.tx, provider_id)
            await self._check_mapping_slot(change.tx, alias_name, order_index, -1)
            row = await _returning(
                change.tx,
                "INSERT INTO model_mappings (alias_name, provider_id, provider_model_name, "
                "order_index, is_default, config, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                alias_name, provider_id, provider_model_name, order_index, bool(is_default),
                codec.dump_json(config), now, now,
            )
            change.dirty = True
        return codec.mapping_from_row(row)

    async def update_mapping(self, mapping_id: int, **fields: Any) -> MappingRow | None:
        codec.check_fields(fields, codec.MAPPING_FIELDS, "mapping")
        if not fields:
            return await self.get_mapping(mapping_id)
        async with self._config_change() as change:
            tx = change.tx
            current = await tx.fetchrow("SELECT * FROM model_mappings WHERE id = ?", mapping_id)
            if current is None:
                return None
            if "provider_id" in fields:
                await self._require_provider(tx, fields["provider_id"])
            if "alias_name" in fields or "order_index" in fields:
                alias = fields.get("alias_name", current["alias_name"])
                order = fields.get("order_index", current["order_index"])
                await self._check_mapping_slot(tx, alias, order, mapping_id)
            row = await self._update(tx, "model_mappings", mapping_id, fields)
            change.dirty = row is not None
        return None if row is None else codec.mapping_from_row(row)

    async def delete_mapping(self, mapping_id: int) -> bool:
        return await self._delete("model_mappings", mapping_id)

    # -- client keys ------------------------------------------------------------------
    async def list_api_keys(self) -> list[ApiKeyRow]:
        rows = await self._fetch_all("SELECT * FROM api_keys ORDER BY id")
        return [codec.api_key_from_row(r) for r in rows]

    async def get_api_key(self, key_id: int) -> ApiKeyRow | None:
        row = await self._fetch_one("SELECT * FROM api_keys WHERE id = ?", key_id)
        return None if row is None else codec.api_key_from_row(row)

    async def create_api_key(
        self,
        *,
        name: str,
        key_hash: str,
        key_prefix: str,
        tenant: str | None,
        is_admin: bool,
        rpm_limit: int | None,
        tpm_limit: int | None,
        allowed_models: list[str] | None,
        expires_at: datetime | None,
    ) -> ApiKeyRow:
        models = None if allowed_models is None else codec.dump_json(list(allowed_models))
        expires = None if expires_at is None else self._ts(expires_at)
        async with self._config_change() as change:
            if await change.tx.fetchrow("SELECT id FROM api_keys WHERE key_hash = ?", key_hash):
                raise Conflict("key_hash", "a client key with this hash already exists")
            row = await _returning(
                change.tx,
                "INSERT INTO api_keys (name, key_hash, key_prefix, tenant, is_admin, rpm_limit, "
                "tpm_limit, allowed_models, expires_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                name, key_hash, key_prefix, tenant, bool(is_admin), rpm_limit, tpm_limit,
                models, expires, self._ts(codec.utc_now()),
            )
            change.dirty = True
        return codec.api_key_from_row(row)

    async def delete_api_key(self, key_id: int) -> bool:
        return await self._delete("api_keys", key_id)

    # -- audit trail ------------------------------------------------------------------
    async def insert_audit(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        rows = [codec.audit_values(r, self._ts) for r in records]
        async with self._transaction(write=True) as tx:
            await tx.executemany(_INSERT_AUDIT, rows)

    async def list_audit(
        self, *, limit: int, after_id: int | None, filters: AuditFilter
    ) -> list[AuditRecord]:
        where, params = codec.audit_where(filters, after_id, self._ts)
        rows = await self._fetch_all(
            f"SELECT * FROM audit_log{where} ORDER BY id LIMIT ?", *params, max(0, int(limit))
        )
        return [codec.audit_from_row(r) for r in rows]

    async def prune_audit(self, before: datetime) -> list[str]:
        """Delete records older than ``before``; return the payload keys they referenced."""
        async with self._transaction(write=True) as tx:
            rows = await tx.fetch(
                "DELETE FROM audit_log WHERE created_at < ? RETURNING payload_key",
                self._ts(before),
            )
        return [row[0] for row in rows if row[0]]
