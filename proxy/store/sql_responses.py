"""Stored Responses API objects: batch insert, scoped reads, the conversation chain, expiry.

Every read and delete is scoped: a row is visible only to callers passing its ``scope``
and only until ``expires_at``. A conversation is read in one recursive query following
``previous_response_id`` (bounded depth), oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from proxy.store import codec
from proxy.store.base import StoredResponse
from proxy.store.sql_base import SqlBase

__all__ = ["ResponseQueries"]

_COLUMNS = ("id", "scope", "previous_response_id", "created_at", "expires_at",
            "input_items", "response")
_INSERT = (
    f"INSERT INTO responses ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)}) ON CONFLICT (id) DO NOTHING"
)
_CHAIN = """
WITH RECURSIVE chain (id, previous_response_id, depth) AS (
    SELECT id, previous_response_id, 0 FROM responses
    WHERE id = ? AND scope = ? AND expires_at > ?
    UNION ALL
    SELECT r.id, r.previous_response_id, c.depth + 1
    FROM responses r JOIN chain c ON r.id = c.previous_response_id
    WHERE r.scope = ? AND r.expires_at > ? AND c.depth < ?
)
SELECT r.* FROM responses r JOIN chain ON r.id = chain.id ORDER BY chain.depth DESC
"""


def _from_row(row: Any) -> StoredResponse:
    return StoredResponse(
        id=row["id"],
        scope=row["scope"],
        previous_response_id=row["previous_response_id"],
        created_at=codec._ts(row["created_at"]),
        expires_at=codec._ts(row["expires_at"]),
        input_items=codec.load_json(row["input_items"]),
        response=codec.load_json(row["response"]),
    )


class ResponseQueries(SqlBase):
    async def insert_responses(self, records: Sequence[StoredResponse]) -> None:
        if not records:
            return
        rows = [
            (r.id, r.scope, r.previous_response_id, self._ts(r.created_at),
             self._ts(r.expires_at), codec.dump_json(r.input_items),
             r.response_json.decode() if r.response_json is not None
             else codec.dump_json(r.response))
            for r in records
        ]
        async with self._transaction(write=True) as tx:
            await tx.executemany(_INSERT, rows)

    async def get_response(self, response_id: str, scope: str | None, now: datetime
                           ) -> StoredResponse | None:
        """The response if it has not expired and is in ``scope`` (``None``: any scope)."""
        if scope is None:
            row = await self._fetch_one(
                "SELECT * FROM responses WHERE id = ? AND expires_at > ?",
                response_id, self._ts(now),
            )
        else:
            row = await self._fetch_one(
                "SELECT * FROM responses WHERE id = ? AND scope = ? AND expires_at > ?",
                response_id, scope, self._ts(now),
            )
        return None if row is None else _from_row(row)

    async def response_chain(self, response_id: str, scope: str, now: datetime,
                             max_depth: int) -> list[StoredResponse]:
        """The response and those it continues, oldest first ([] when it is not visible)."""
        ts = self._ts(now)
        rows = await self._fetch_all(_CHAIN, response_id, scope, ts, scope, ts, max_depth)
        return [_from_row(r) for r in rows]

    async def delete_response(self, response_id: str, scope: str) -> bool:
        async with self._transaction(write=True) as tx:
            row = await tx.fetchrow(
                "DELETE FROM responses WHERE id = ? AND scope = ? RETURNING id",
                response_id, scope,
            )
        return row is not None

    async def prune_responses(self, before: datetime) -> int:
        async with self._transaction(write=True) as tx:
            rows = await tx.fetch(
                "DELETE FROM responses WHERE expires_at <= ? RETURNING id", self._ts(before)
            )
        return len(rows)
