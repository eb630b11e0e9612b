"""Configuration queries (providers, provider keys, mappings, client keys), written once.

``SqlStore`` is the whole ``Store`` minus what a backend supplies (see ``sql_base``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from proxy.store import codec
from proxy.store.base import (
    ApiKeyRow,
    ConfigSnapshot,
    Conflict,
    MappingRow,
    ProviderKeyRow,
    ProviderRow,
)
from proxy.store.sql_audit import AuditQueries
from proxy.store.sql_base import Tx, returning
from proxy.store.sql_keys import DataKeyQueries
from proxy.store.sql_responses import ResponseQueries
from proxy.store.sql_tenants import TenantQueries

__all__ = ["SqlStore"]


class SqlStore(TenantQueries, AuditQueries, DataKeyQueries, ResponseQueries):
    """Every ``Store`` method; subclasses add the connection handling."""

    async def load_config(self) -> ConfigSnapshot:
        async with self._transaction(write=False) as tx:
            row = await tx.fetchrow("SELECT version FROM config_version WHERE id = 1")
            providers = await tx.fetch("SELECT * FROM providers ORDER BY id")
            keys = await tx.fetch("SELECT * FROM provider_keys ORDER BY id")
            mappings = await tx.fetch(
                "SELECT * FROM model_mappings ORDER BY alias_name, order_index, id"
            )
            api_keys = await tx.fetch("SELECT * FROM api_keys ORDER BY id")
            tenants = await tx.fetch("SELECT * FROM tenants ORDER BY id")
        return ConfigSnapshot(
            version=int(row[0]) if row is not None else 0,
            providers=[codec.provider_from_row(r) for r in providers],
            provider_keys=[codec.key_from_row(r) for r in keys],
            mappings=[codec.mapping_from_row(r) for r in mappings],
            api_keys=[codec.api_key_from_row(r) for r in api_keys],
            tenants=[codec.tenant_from_row(r) for r in tenants],
        )

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
        self, *, name: str, provider_type: str, base_url: str, config: dict[str, Any],
        enabled: bool, headers_encrypted: str | None = None,
    ) -> ProviderRow:
        now = self._ts(codec.utc_now())
        async with self._config_change() as change:
            await self._check_provider_name(change.tx, name, -1)
            row = await returning(
                change.tx,
                "INSERT INTO providers (name, provider_type, base_url, config, enabled, "
                "headers_encrypted, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING *",
                name, provider_type, base_url, codec.dump_json(config), bool(enabled),
                headers_encrypted, now, now,
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
            row = await returning(
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
        """Re-encrypt every key and every provider's headers token in one transaction; if
        ``reencrypt`` raises, nothing changes. Returns how many values were re-encrypted."""
        now = self._ts(codec.utc_now())
        async with self._config_change() as change:
            rows = await change.tx.fetch("SELECT id, key_encrypted FROM provider_keys ORDER BY id")
            updates = [(reencrypt(r["key_encrypted"]), now, r["id"]) for r in rows]
            headers = await change.tx.fetch(
                "SELECT id, headers_encrypted FROM providers "
                "WHERE headers_encrypted IS NOT NULL ORDER BY id"
            )
            header_updates = [(reencrypt(r["headers_encrypted"]), now, r["id"]) for r in headers]
            if updates:
                await change.tx.executemany(
                    "UPDATE provider_keys SET key_encrypted = ?, updated_at = ? WHERE id = ?",
                    updates,
                )
            if header_updates:
                await change.tx.executemany(
                    "UPDATE providers SET headers_encrypted = ?, updated_at = ? WHERE id = ?",
                    header_updates,
                )
            change.dirty = bool(updates or header_updates)
        return len(updates) + len(header_updates)

    # -- model mappings -----------------------------------------------------------------
    async def list_mappings(self) -> list[MappingRow]:
        rows = await self._fetch_all(
            "SELECT * FROM model_mappings ORDER BY alias_name, order_index, id"
        )
        return [codec.mapping_from_row(r) for r in rows]

    async def get_mapping(self, mapping_id: int) -> MappingRow | None:
        row = await self._fetch_one("SELECT * FROM model_mappings WHERE id = ?", mapping_id)
        return None if row is None else codec.mapping_from_row(row)

    async def _check_mapping_slot(self, tx: Tx, alias: str, order: int, provider_id: int,
                                  model: str, exclude_id: int) -> None:
        """Mappings of one alias may share an ``order_index`` (a routing group), but not
        twice the same provider and upstream model."""
        sql = ("SELECT id FROM model_mappings WHERE alias_name = ? AND order_index = ? "
               "AND provider_id = ? AND provider_model_name = ? AND id <> ?")
        if await tx.fetchrow(sql, alias, order, provider_id, model, exclude_id) is not None:
            raise Conflict("order_index", f"alias {alias!r} already maps order_index {order} "
                           f"to this provider and model")

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
            await self._check_mapping_slot(change.tx, alias_name, order_index, provider_id,
                                           provider_model_name, -1)
            row = await returning(
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
            if fields.keys() & {"alias_name", "order_index", "provider_id",
                                "provider_model_name"}:
                await self._check_mapping_slot(
                    tx,
                    fields.get("alias_name", current["alias_name"]),
                    fields.get("order_index", current["order_index"]),
                    fields.get("provider_id", current["provider_id"]),
                    fields.get("provider_model_name", current["provider_model_name"]),
                    mapping_id,
                )
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
        budget_usd: float | None = None,
        budget_period: str = "month",
        enabled: bool = True,
    ) -> ApiKeyRow:
        models = None if allowed_models is None else codec.dump_json(list(allowed_models))
        expires = None if expires_at is None else self._ts(expires_at)
        now = self._ts(codec.utc_now())
        async with self._config_change() as change:
            if await change.tx.fetchrow("SELECT id FROM api_keys WHERE key_hash = ?", key_hash):
                raise Conflict("key_hash", "a client key with this hash already exists")
            row = await returning(
                change.tx,
                "INSERT INTO api_keys (name, key_hash, key_prefix, tenant, is_admin, rpm_limit, "
                "tpm_limit, allowed_models, expires_at, created_at, budget_usd, budget_period, "
                "enabled, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                name, key_hash, key_prefix, tenant, bool(is_admin), rpm_limit, tpm_limit,
                models, expires, now, budget_usd, budget_period, bool(enabled), now,
            )
            change.dirty = True
        return codec.api_key_from_row(row)

    async def delete_api_key(self, key_id: int) -> bool:
        return await self._delete("api_keys", key_id)
