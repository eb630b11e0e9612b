"""Tenant queries, and the client-key update (budgets, limits, enabling) beside them."""

from __future__ import annotations

from typing import Any

from proxy.store import codec
from proxy.store.base import ApiKeyRow, Conflict, TenantRow
from proxy.store.sql_base import SqlBase, Tx, returning

__all__ = ["TenantQueries"]


class TenantQueries(SqlBase):
    async def list_tenants(self) -> list[TenantRow]:
        rows = await self._fetch_all("SELECT * FROM tenants ORDER BY id")
        return [codec.tenant_from_row(r) for r in rows]

    async def get_tenant(self, tenant_id: int) -> TenantRow | None:
        row = await self._fetch_one("SELECT * FROM tenants WHERE id = ?", tenant_id)
        return None if row is None else codec.tenant_from_row(row)

    async def _check_tenant_name(self, tx: Tx, name: str, exclude_id: int) -> None:
        sql = "SELECT id FROM tenants WHERE name = ? AND id <> ?"
        if await tx.fetchrow(sql, name, exclude_id) is not None:
            raise Conflict("name", f"a tenant named {name!r} already exists")

    async def create_tenant(
        self, *, name: str, rpm_limit: int | None, tpm_limit: int | None,
        budget_usd: float | None, budget_period: str,
    ) -> TenantRow:
        now = self._ts(codec.utc_now())
        async with self._config_change() as change:
            await self._check_tenant_name(change.tx, name, -1)
            row = await returning(
                change.tx,
                "INSERT INTO tenants (name, rpm_limit, tpm_limit, budget_usd, budget_period, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                name, rpm_limit, tpm_limit, budget_usd, budget_period, now, now,
            )
            change.dirty = True
        return codec.tenant_from_row(row)

    async def update_tenant(self, tenant_id: int, **fields: Any) -> TenantRow | None:
        codec.check_fields(fields, codec.TENANT_FIELDS, "tenant")
        if not fields:
            return await self.get_tenant(tenant_id)
        async with self._config_change() as change:
            if "name" in fields:
                await self._check_tenant_name(change.tx, fields["name"], tenant_id)
            row = await self._update(change.tx, "tenants", tenant_id, fields)
            change.dirty = row is not None
        return None if row is None else codec.tenant_from_row(row)

    async def delete_tenant(self, tenant_id: int) -> bool:
        return await self._delete("tenants", tenant_id)

    async def update_api_key(self, key_id: int, **fields: Any) -> ApiKeyRow | None:
        codec.check_fields(fields, codec.API_KEY_FIELDS, "client key")
        if not fields:
            row = await self._fetch_one("SELECT * FROM api_keys WHERE id = ?", key_id)
            return None if row is None else codec.api_key_from_row(row)
        if fields.get("expires_at") is not None:
            fields["expires_at"] = self._ts(fields["expires_at"])
        async with self._config_change() as change:
            row = await self._update(change.tx, "api_keys", key_id, fields)
            change.dirty = row is not None
        return None if row is None else codec.api_key_from_row(row)
