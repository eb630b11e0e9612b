"""Spend and usage queries: persisted spend, the hourly usage rollup and ``usage``.

The rollup (``usage_hourly``) is written in the same transaction as the audit batch it
summarises (``rollup_rows``), so it always agrees with the audit trail. ``usage`` answers
from the rollup for every whole UTC hour inside ``[start, end)`` and from the audit trail
(``created_at`` index) for the partial hours at either edge, so any range is exact and a
query reads at most two hours of audit rows however many millions there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from proxy.store.base import AuditRecord, UsageRow
from proxy.store.codec import storable
from proxy.store.sql_base import SqlBase, Tx

__all__ = ["GROUPS", "SpendQueries", "rollup_rows"]

#: group_by → (rollup column, audit-trail expression)
GROUPS: dict[str, tuple[str, str]] = {
    "api_key": ("api_key_id", "COALESCE(api_key_id, 0)"),
    "tenant": ("tenant", "COALESCE(tenant, '')"),
    "alias": ("alias", "COALESCE(alias, '')"),
    "provider": ("provider", "COALESCE(provider, '')"),
    "model": ("model", "COALESCE(upstream_model, '')"),
    "day": ("hour / 24", "({hour}) / 24"),
}
_DIMS = ("hour", "api_key_id", "tenant", "alias", "provider", "model")
_UPSERT_HOURLY = (
    f"INSERT INTO usage_hourly ({', '.join(_DIMS)}, requests, input_tokens, output_tokens, "
    "cost_nanos) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    f"ON CONFLICT ({', '.join(_DIMS)}) DO UPDATE SET "
    "requests = usage_hourly.requests + excluded.requests, "
    "input_tokens = usage_hourly.input_tokens + excluded.input_tokens, "
    "output_tokens = usage_hourly.output_tokens + excluded.output_tokens, "
    "cost_nanos = usage_hourly.cost_nanos + excluded.cost_nanos"
)
_UPSERT_SPEND = (
    "INSERT INTO spend (scope, ident, period, spend_nanos) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (scope, ident, period) DO UPDATE SET "
    "spend_nanos = spend.spend_nanos + excluded.spend_nanos"
)


def rollup_rows(records: Sequence[AuditRecord]) -> list[tuple[Any, ...]]:
    """The batch summed per (UTC hour, key, tenant, alias, provider, model)."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for r in records:
        dims = (int(r.created_at.timestamp()) // 3600, r.api_key_id or 0,
                storable(r.tenant or ""), storable(r.alias or ""), storable(r.provider or ""),
                storable(r.upstream_model or ""))
        sums = groups.get(dims)
        if sums is None:
            sums = groups[dims] = [0, 0, 0, 0]
        sums[0] += 1
        sums[1] += r.prompt_tokens or 0
        sums[2] += r.completion_tokens or 0
        sums[3] += round(r.cost_usd * 1e9) if r.cost_usd else 0
    return [(*dims, *sums) for dims, sums in groups.items()]


def _hour_ceil(value: datetime) -> int:
    seconds = value.timestamp()
    return -int(-seconds // 3600)


def _hour_floor(value: datetime) -> int:
    return int(value.timestamp() // 3600)


class SpendQueries(SqlBase):
    #: SQL for the UTC hour (since the epoch) of ``audit_log.created_at``
    _hour_sql: str = ""

    async def _insert_rollup(self, tx: Tx, records: Sequence[AuditRecord]) -> None:
        rows = rollup_rows(records)
        if rows:
            await tx.executemany(_UPSERT_HOURLY, rows)

    async def add_spend(self, rows: Sequence[tuple[str, str, str, int]]) -> None:
        if not rows:
            return
        async with self._transaction(write=True) as tx:
            await tx.executemany(_UPSERT_SPEND, [tuple(r) for r in sorted(rows)])

    async def get_spend(
        self, keys: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], int]:
        out: dict[tuple[str, str, str], int] = {}
        if not keys:
            return out
        async with self._transaction(write=False) as tx:
            for i in range(0, len(keys), 200):
                chunk = keys[i:i + 200]
                where = " OR ".join("(scope = ? AND ident = ? AND period = ?)" for _ in chunk)
                params = [v for key in chunk for v in key]
                for row in await tx.fetch(
                    f"SELECT scope, ident, period, spend_nanos FROM spend WHERE {where}", *params
                ):
                    out[(row[0], row[1], row[2])] = int(row[3])
        return out

    async def usage(
        self, group_by: str, start: datetime | None, end: datetime | None
    ) -> list[UsageRow]:
        rollup_col, raw_expr = GROUPS[group_by]
        raw_expr = raw_expr.format(hour=self._hour_sql)
        first = _hour_ceil(start) if start is not None else None
        last = _hour_floor(end) if end is not None else None
        sums: dict[Any, UsageRow] = {}
        async with self._transaction(write=False) as tx:
            if first is not None and last is not None and first >= last:
                await self._raw(tx, sums, raw_expr, start, end)
            else:
                where, params = [], []
                if first is not None:
                    where.append("hour >= ?")
                    params.append(first)
                if last is not None:
                    where.append("hour < ?")
                    params.append(last)
                clause = f" WHERE {' AND '.join(where)}" if where else ""
                rows = await tx.fetch(
                    f"SELECT {rollup_col}, SUM(requests), SUM(input_tokens), "
                    f"SUM(output_tokens), SUM(cost_nanos) FROM usage_hourly{clause} "
                    f"GROUP BY {rollup_col}", *params,
                )
                _add(sums, rows)
                if start is not None and first is not None:
                    await self._raw(tx, sums, raw_expr, start, _at_hour(first))
                if end is not None and last is not None:
                    await self._raw(tx, sums, raw_expr, _at_hour(last), end)
        return [_present(group_by, row) for row in sums.values()]

    async def _raw(self, tx: Tx, sums: dict[Any, UsageRow], expr: str,
                   start: datetime | None, end: datetime | None) -> None:
        if start is not None and end is not None and start >= end:
            return
        rows = await tx.fetch(
            f"SELECT {expr}, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), "
            "SUM(CAST(ROUND(cost_usd * 1000000000) AS BIGINT)) FROM audit_log "
            "WHERE created_at >= ? AND created_at < ? "
            f"GROUP BY {expr}",
            self._ts(start or datetime(1970, 1, 1, tzinfo=UTC)),
            self._ts(end or datetime(9999, 1, 1, tzinfo=UTC)),
        )
        _add(sums, rows)


def _at_hour(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)


def _add(sums: dict[Any, UsageRow], rows: list[Any]) -> None:
    for row in rows:
        key = row[0]
        entry = sums.get(key)
        if entry is None:
            entry = sums[key] = UsageRow(key)
        entry.requests += int(row[1] or 0)
        entry.input_tokens += int(row[2] or 0)
        entry.output_tokens += int(row[3] or 0)
        entry.cost_nanos += int(row[4] or 0)


def _present(group_by: str, row: UsageRow) -> UsageRow:
    """Group values as the API shows them: a date for ``day``, None for "none"."""
    key = row.key
    if group_by == "day":
        row.key = datetime.fromtimestamp(int(key) * 86400, UTC).date().isoformat()
    elif group_by == "api_key":
        row.key = int(key) or None
    else:
        row.key = key or None
    return row
