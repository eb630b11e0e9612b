"""Budgets shared by every replica through Redis: the ledger's steps as Lua scripts.

``reserve.lua`` checks and reserves against every budget of a request atomically (so N
replicas racing for the last dollars admit exactly what fits) and releases reservations
left behind by a replica that died (each is held at most ``hold`` seconds). ``settle.lua``
turns a reservation into the actual cost; it may come first (the caller gave up waiting
for the reservation's answer while the script was still on its way): it then leaves a
mark for ``hold`` seconds that makes the late script reserve nothing. State per budget and period: a hash
``<prefix><scope>:<ident>:<label>`` (``spent``, ``reserved``, ``r:<id>``) and a sorted set
of reservation expiries beside it; both expire after the period ends.

Redis is not the record: settled spend is written to the database in batches
(``recorder``). A state missing from Redis (first use, a restarted or flushed server,
eviction) is reloaded from the database — the script answers "seed" and the call is
repeated with the stored value — so losing Redis never resets a budget.

Settlements never wait: they are queued and sent together, one pipeline per event-loop
turn, by one task.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from ..ratelimit.redis_backend import Script
from .ledger import Budget, Refusal, SpendKey, SpendLoader

__all__ = ["RedisLedger"]

log = logging.getLogger("proxy.spend")


class RedisLedger:
    def __init__(self, client: Redis, load: SpendLoader, *, prefix: str = "sp:",
                 hold: int = 900, timeout: float = 0.25) -> None:
        self._client = client
        self._timeout = timeout
        self._load = load
        self._prefix = prefix
        self._hold = str(int(hold))
        self._reserve = Script("reserve.lua", __package__)
        self._settle = Script("settle.lua", __package__)
        self._instance = os.urandom(6).hex()
        self._seq = itertools.count()
        self._queued: list[tuple[Any, ...]] = []
        self._loading: dict[SpendKey, asyncio.Task[int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.settle_failures = 0

    @property
    def client(self) -> Redis:
        return self._client

    def new_id(self) -> str:
        return f"{self._instance}:{next(self._seq)}"

    def _keys(self, budgets: Sequence[Budget]) -> list[str]:
        keys: list[str] = []
        for b in budgets:
            base = f"{self._prefix}{b.scope}:{b.ident}:{b.label}"
            keys.append(base)
            keys.append(base + ":exp")
        return keys

    async def reserve(self, budgets: Sequence[Budget], amount: int, rid: str,
                      wait: float | None = None) -> Refusal | None:
        """Reserve ``amount`` under ``rid``, each script call given ``wait`` seconds (the
        ledger's own timeout by default); on a timeout the script may still run."""
        keys = self._keys(budgets)
        deadline = self._timeout if wait is None else wait
        seeds = [""] * len(budgets)
        for _ in range(len(budgets) + 1):
            args: list[str] = [rid, str(amount), self._hold]
            for budget, seed in zip(budgets, seeds, strict=True):
                args += [str(budget.limit), str(budget.expires_at), seed]
            async with asyncio.timeout(deadline):
                reply = await self._reserve(self._client, len(keys), *keys, *args)
            code = int(reply[0])
            if code == 1 or code == 3:  # 3: settled before it ran (its caller gave up)
                return None
            index = int(reply[1]) - 1
            if code == 0:
                return Refusal(budgets[index], int(reply[2]))
            seeds[index] = str(await self._seed(budgets[index].key))
        raise RuntimeError("budget state could not be seeded in Redis")

    async def _seed(self, key: SpendKey) -> int:
        """The stored spend of ``key``: one database read however many requests ask."""
        task = self._loading.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load_one(key))
            self._loading[key] = task
            task.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(task)

    async def _load_one(self, key: SpendKey) -> int:
        return await self._load(key)

    def settle(self, budgets: Sequence[Budget], rid: str, actual: int) -> None:
        """Queue the settlement; all queued in one loop turn go out as one pipeline."""
        keys = self._keys(budgets)
        if not self._queued:
            asyncio.get_running_loop().call_soon(self._send)
        self._queued.append((len(keys), *keys, rid, str(actual), self._hold))

    def _send(self) -> None:
        batch, self._queued = self._queued, []
        task = asyncio.get_running_loop().create_task(self._run(batch), name="budget-settle")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[Any, ...]]) -> None:
        try:
            async with asyncio.timeout(2.0):
                results = await self._settle.execute(self._client, batch)
            failed = sum(1 for r in results if isinstance(r, Exception))
        except Exception as exc:  # Redis down: the reservations expire after ``hold``
            failed = len(batch)
            log.warning("budget settlements not sent to Redis",
                        extra={"count": failed, "error": f"{type(exc).__name__}: {exc}"[:200]})
        self.settle_failures += failed

    async def drain(self, grace: float = 5.0) -> None:
        """Wait for queued settlements (shutdown)."""
        if self._queued:
            self._send()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)

    async def warm_up(self) -> None:
        await self._client.ping()
        for script in (self._reserve, self._settle):
            await self._client.script_load(script.source)

    async def state(self, budget: Budget) -> tuple[int, int] | None:
        """(spent, reserved) as Redis holds them, or None when it holds nothing."""
        spent, reserved = await self._client.hmget(self._keys([budget])[0], "spent", "reserved")
        if spent is None:
            return None
        return int(spent), int(reserved or 0)
