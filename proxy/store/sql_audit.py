"""The audit trail's queries: batch insert (with its usage rollup), keyset paging with
filters, pruning."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from proxy.store import codec
from proxy.store.base import AuditFilter, AuditRecord
from proxy.store.sql_spend import SpendQueries

__all__ = ["AuditQueries"]

_INSERT_AUDIT = (
    f"INSERT INTO audit_log ({', '.join(codec.AUDIT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in codec.AUDIT_COLUMNS)})"
)


class AuditQueries(SpendQueries):
    async def insert_audit(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        rows = [codec.audit_values(r, self._ts) for r in records]
        async with self._transaction(write=True) as tx:
            await tx.executemany(_INSERT_AUDIT, rows)
            await self._insert_rollup(tx, records)

    async def list_audit(
        self, *, limit: int, after_id: int | None, filters: AuditFilter
    ) -> list[AuditRecord]:
        where, params = codec.audit_where(filters, after_id, self._ts)
        order = "DESC" if filters.newest_first else "ASC"
        rows = await self._fetch_all(
            f"SELECT * FROM audit_log{where} ORDER BY id {order} LIMIT ?",
            *params, max(0, int(limit)),
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
