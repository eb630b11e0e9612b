#!/usr/bin/env python3
"""Time ``GET /admin/usage``'s query over a generated audit trail (default 1M rows).

Writes the rows through the store's own ``insert_audit`` (so the hourly rollup is filled
as in production), 30 days of traffic over 200 keys in 20 tenants, each key using two of
10 aliases, each alias served by its own provider and model (5 % by a fallback), then
times ``store.usage`` for every ``group_by`` over the whole range and
over a range with ragged edges (partial hours read from the audit trail), beside the
naive ``GROUP BY`` over ``audit_log`` it replaces. Usage::

    python scripts/bench_usage.py [--rows 1000000] [--database-url sqlite:///tmp/u.db]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxy.store import AuditRecord, apply_migrations, open_store
from proxy.store.sql_spend import GROUPS

START = datetime(2030, 1, 1, tzinfo=UTC)
DAYS = 30


def _records(count: int, rng: random.Random) -> list[AuditRecord]:
    span = DAYS * 86400
    out = []
    for i in range(count):
        key = rng.randrange(1, 201)
        alias = (key + rng.randrange(2)) % 10
        served = alias if rng.random() >= 0.05 else (alias + 1) % 10
        out.append(AuditRecord(
            created_at=START + timedelta(seconds=rng.random() * span), request_id=f"r{i}",
            endpoint="/v1/chat/completions", status=200, latency_ms=12.5, api_key_id=key,
            tenant=f"tenant-{key % 20}", alias=f"alias-{alias}",
            provider=f"provider-{served % 4}", upstream_model=f"model-{served}",
            prompt_tokens=rng.randrange(1, 4000), completion_tokens=rng.randrange(1, 800),
            total_tokens=0, attempts=1, cost_usd=round(rng.random() / 100, 9)))
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000,
                    help="rows to add (0: time the queries over what the database holds)")
    ap.add_argument("--database-url", default="sqlite:///bench-usage/usage.db")
    args = ap.parse_args()
    await asyncio.to_thread(apply_migrations, args.database_url)
    store = await open_store(args.database_url)
    rng = random.Random(7)
    try:
        started = time.perf_counter()
        for done in range(0, args.rows, 20_000):
            await store.insert_audit(_records(min(20_000, args.rows - done), rng))
        if args.rows:
            print(f"{args.rows} audit rows written in {time.perf_counter() - started:.1f} s "
                  f"({store.backend})")
        ragged = (START + timedelta(days=3, minutes=17), START + timedelta(days=24, minutes=41))
        for group_by in GROUPS:
            for label, (start, end) in (("all", (None, None)), ("ragged", ragged)):
                t = time.perf_counter()
                rows = await store.usage(group_by, start, end)
                took = (time.perf_counter() - t) * 1000
                print(f"usage group_by={group_by:<8} range={label:<6} groups={len(rows):>4} "
                      f"{took:8.1f} ms")
        t = time.perf_counter()
        async with store._transaction(write=False) as tx:  # the query the rollup replaces
            await tx.fetch("SELECT upstream_model, COUNT(*), SUM(prompt_tokens), "
                           "SUM(completion_tokens), SUM(cost_usd) FROM audit_log "
                           "GROUP BY upstream_model")
        print(f"naive GROUP BY over audit_log (model)          "
              f"{(time.perf_counter() - t) * 1000:8.1f} ms")
    finally:
        await store.aclose()


if __name__ == "__main__":
    asyncio.run(main())
