"""KMS-wrapped data keys (``proxy.kms``): one row per ``aws-kms:`` key reference."""

from __future__ import annotations

from proxy.store import codec
from proxy.store.sql_base import SqlBase

__all__ = ["DataKeyQueries"]


class DataKeyQueries(SqlBase):
    async def wrapped_data_key(self, key_ref: str) -> str | None:
        row = await self._fetch_one(
            "SELECT wrapped FROM encryption_data_keys WHERE key_ref = ?", key_ref)
        return None if row is None else str(row[0])

    async def store_wrapped_data_key(self, key_ref: str, wrapped: str) -> str:
        """Keep ``wrapped`` unless a data key is already stored for ``key_ref`` (another
        replica got there first); returns the one stored."""
        async with self._transaction(write=True) as tx:
            await tx.fetch(
                "INSERT INTO encryption_data_keys (key_ref, wrapped, created_at) "
                "VALUES (?, ?, ?) ON CONFLICT (key_ref) DO NOTHING",
                key_ref, wrapped, self._ts(codec.utc_now()))
            row = await tx.fetchrow(
                "SELECT wrapped FROM encryption_data_keys WHERE key_ref = ?", key_ref)
        assert row is not None
        return str(row[0])
