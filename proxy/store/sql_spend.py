"""Spend and usage queries: persisted spend, the usage rollups and ``usage``.

The rollups (``usage_daily`` and ``usage_hourly``) are written in the same transaction as
the audit batch they summarise (``rollup_rows``), so they always agree with the audit
trail. ``usage`` answers in three tiers: every whole UTC day inside ``[start, end)`` from
the daily rollup, the whole hours left at either side from the hourly one, and the
partial hours at the edges from the audit trail (``created_at`` index). Any range is
exact, and a query reads at most two days of hourly rows and two hours of audit rows
however many millions there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from proxy.store.base import AuditRecord, UsageRow
from proxy.store.codec import storable
from proxy.store.sql_base import SqlBase, Tx

__all__ = ["GROUPS", "SpendQueries", "rollup_rows"]

#: group_by → (daily rollup column, hourly rollup column, audit-trail expression)
GROUPS: dict[str, tuple[str, str, str]] = {
    "api_key": ("api_key_id", "api_key_id", "COALESCE(api_key_id, 0)"),
    "tenant": ("tenant", "tenant", "COALESCE(tenant, '')"),
    "alias": ("alias", "alias", "COALESCE(alias, '')"),
    "provider": ("provider", "provider", "COALESCE(provider, '')"),
    "model": ("model", "model", "COALESCE(upstream_model, '')"),
    "day": ("day", "hour / 24", "({hour}) / 24"),
}
_DIMS = ("hour", "api_key_id", "tenant", "alias", "provider", "model")


def _upsert(table: str, first: str) -> str:
    dims = ", ".join((first, *_DIMS[1:]))
    return (
        f"INSERT INTO {table} ({dims}, requests, input_tokens, output_tokens, cost_nanos) "
        f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT ({dims}) DO UPDATE SET "
        f"requests = {table}.requests + excluded.requests, "
        f"input_tokens = {table}.input_tokens + excluded.input_tokens, "
        f"output_tokens = {table}.output_tokens + excluded.output_tokens, "
        f"cost_nanos = {table}.cost_nanos + excluded.cost_nanos"
    )


_UPSERT_HOURLY = _upsert("usage_hourly", "hour")
_UPSERT_DAILY = _upsert("usage_daily", "day")
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
        if not rows:
            return
        await tx.executemany(_UPSERT_HOURLY, rows)
        daily: dict[tuple[Any, ...], list[int]] = {}
        for hour, *dims_and_sums in rows:
            dims = (hour // 24, *dims_and_sums[:5])
            sums = daily.get(dims)
            if sums is None:
                daily[dims] = list(dims_and_sums[5:])
            else:
                for i, value in enumerate(dims_and_sums[5:]):
                    sums[i] += value
        await tx.executemany(_UPSERT_DAILY, [(*d, *v) for d, v in daily.items()])

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
        daily_col, hourly_col, raw_expr = GROUPS[group_by]
        raw_expr = raw_expr.format(hour=self._hour_sql)
        h0 = _hour_ceil(start) if start is not None else None
        h1 = _hour_floor(end) if end is not None else None
        sums: dict[Any, UsageRow] = {}
        async with self._transaction(write=False) as tx:
            if h0 is not None and h1 is not None and h0 >= h1:
                await self._raw(tx, sums, raw_expr, start, end)
                return [_present(group_by, row) for row in sums.values()]
            d0 = -(-h0 // 24) if h0 is not None else None
            d1 = h1 // 24 if h1 is not None else None
            if d0 is not None and d1 is not None and d0 >= d1:
                await self._rollup(tx, sums, "usage_hourly", "hour", hourly_col, h0, h1)
            else:
                await self._rollup(tx, sums, "usage_daily", "day", daily_col, d0, d1)
                if h0 is not None and d0 is not None:
                    await self._rollup(tx, sums, "usage_hourly", "hour", hourly_col, h0, d0 * 24)
                if h1 is not None and d1 is not None:
                    await self._rollup(tx, sums, "usage_hourly", "hour", hourly_col, d1 * 24, h1)
            if start is not None and h0 is not None:
                await self._raw(tx, sums, raw_expr, start, _at_hour(h0))
            if end is not None and h1 is not None:
                await self._raw(tx, sums, raw_expr, _at_hour(h1), end)
        return [_present(group_by, row) for row in sums.values()]

    async def _rollup(self, tx: Tx, sums: dict[Any, UsageRow], table: str, unit: str,
                      column: str, low: int | None, high: int | None) -> None:
        """Sums of ``table`` for ``unit`` in ``[low, high)`` (None: unbounded)."""
        if low is not None and high is not None and low >= high:
            return
        where, params = [], []
        if low is not None:
            where.append(f"{unit} >= ?")
            params.append(low)
        if high is not None:
            where.append(f"{unit} < ?")
            params.append(high)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await tx.fetch(
            f"SELECT {column}, SUM(requests), SUM(input_tokens), SUM(output_tokens), "
            f"SUM(cost_nanos) FROM {table}{clause} GROUP BY {column}", *params,
        )
        _add(sums, rows)

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
