"""Redis rate limiter: every scope checked and recorded by one Lua script, one round trip.

Algorithm, and why:

* Requests: a sliding-window log per scope, a sorted set of the admitted requests'
  times. It is exact — at most ``limit`` admissions in ANY rolling window, so no burst of
  2N across a minute boundary (a fixed window allows that; GCRA admits N+1 within one
  window after a full burst) — and the script runs atomically, so N concurrent replicas
  racing 4N requests admit exactly N. The cost is memory: up to ``limit`` members per
  scope (about 100 bytes each: 1 MB for a 10 000 rpm global limit), acceptable for rpm
  figures; every key gets a TTL of one window (+1 s), so idle scopes vanish by
  themselves.
* Tokens: one hash per key with a field per bucket of ``window / 60`` seconds (1 s for a
  minute). An exact log would need a member per charge and a sum over all of them on
  every request; 60 small fields bound both the memory and the work, at the price of the
  token window being up to one bucket stricter than 60 s. Stale fields are removed on
  every check and the hash has a TTL.
* The clock is Redis server time (``TIME`` inside the script), so replicas with skewed
  clocks agree. Scripts are loaded once and run with ``EVALSHA``; on ``NOSCRIPT``
  (a restarted or flushed server) the script is loaded again and the call retried.

Errors (connection, timeout, Redis errors) propagate as ``redis.exceptions.RedisError``
/ ``OSError`` / ``TimeoutError``; ``FailoverRateLimiter`` turns them into the in-process
fallback. All keys sit in one Redis: the script's keys are not hash-tagged for Cluster.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from .base import DEFAULT_WINDOW, TOKENS_SCOPE, Decision, Limit

__all__ = ["RedisRateLimiter", "Script", "connect_redis"]


class Script:
    """A Lua script run by SHA, loaded again when the server answers NOSCRIPT.

    Calls made in the same event-loop turn go out together as one pipeline (one round
    trip, a quarter of redis-py's per-command CPU); each call is still its own atomic
    script run, in order."""

    __slots__ = ("_pending", "_tasks", "sha", "source")

    def __init__(self, name: str, package: str | None = __package__) -> None:
        assert package is not None
        self.source = resources.files(package).joinpath(name).read_text("utf-8")
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()
        self._pending: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, client: Redis, numkeys: int, *keys_and_args: str) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._send, client)
        self._pending.append(((numkeys, *keys_and_args), future))
        return await future

    def _send(self, client: Redis) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._run(client, batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, client: Redis,
                   batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        try:
            results = await self.execute(client, [args for args, _ in batch])
        except Exception as exc:  # handed to every caller, never lost
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller gave up (timeout): nothing to hand over
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def execute(self, client: Redis, calls: list[tuple[Any, ...]]) -> list[Any]:
        if len(calls) == 1:
            try:
                return [await client.evalsha(self.sha, *calls[0])]
            except NoScriptError:
                await client.script_load(self.source)
                return [await client.evalsha(self.sha, *calls[0])]
        results = await self._pipeline(client, calls)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            # a NOSCRIPT reply ran nothing: load the script, send exactly those again
            await client.script_load(self.source)
            again = await self._pipeline(client, [calls[i] for i in missing])
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        return results

    async def _pipeline(self, client: Redis, calls: list[tuple[Any, ...]]) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for args in calls:
            pipe.evalsha(self.sha, *args)
        return list(await pipe.execute(raise_on_error=False))


def connect_redis(url: str, *, timeout: float = 0.25, max_connections: int = 64) -> Redis:
    """A client with short socket timeouts and a bounded pool that waits at most
    ``timeout`` for a free connection. A pooled connection that turns out dead (Redis
    restarted) is retried once on a fresh connection, so a restart does not read as an
    outage; timeouts are never retried (the script may have run). ``aclose`` it with
    ``close_connection_pool=True`` (``RedisRateLimiter.aclose`` does)."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        health_check_interval=0,
    )
    return Redis(connection_pool=pool)


class RedisRateLimiter:
    def __init__(
        self,
        client: Redis,
        *,
        window: float = DEFAULT_WINDOW,
        prefix: str = "rl:",
        owns_client: bool = True,
    ) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self._client = client
        self._owns_client = owns_client
        self._window = window
        self._window_arg = repr(float(window))
        self._prefix = prefix
        self._acquire = Script("acquire.lua")
        self._charge = Script("charge.lua")
        self._instance = os.urandom(6).hex()
        self._seq = itertools.count()

    @property
    def window(self) -> float:
        return self._window

    @property
    def client(self) -> Redis:
        return self._client

    async def acquire(self, limits: Sequence[Limit], tokens: Limit | None = None) -> Decision:
        prefix = self._prefix
        keys = [f"{prefix}r:{lim.scope}:{lim.key}" for lim in limits if lim.limit > 0]
        scoped = [lim for lim in limits if lim.limit > 0] if len(keys) != len(limits) else limits
        token_arg = ""
        if tokens is not None and tokens.limit > 0:
            keys.append(f"{prefix}t:{tokens.scope}:{tokens.key}")
            token_arg = str(tokens.limit)
        request_id = f"{self._instance}:{next(self._seq)}"
        args = [self._window_arg, request_id, token_arg]
        args.extend([str(lim.limit) for lim in scoped])
        reply = await self._acquire(self._client, len(keys), *keys, *args)
        return _decision(reply, scoped, tokens if token_arg else None)

    async def charge_tokens(self, tokens: Limit, amount: int) -> None:
        if tokens.limit <= 0 or amount <= 0:
            return
        key = f"{self._prefix}t:{tokens.scope}:{tokens.key}"
        await self._charge(self._client, 1, key, self._window_arg, str(int(amount)))

    async def ping(self) -> bool:
        return bool(await self._client.ping())

    async def warm_up(self) -> None:
        """Connect and load the scripts before the first request needs them."""
        await self._client.ping()
        for script in (self._acquire, self._charge):
            await self._client.script_load(script.source)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose(close_connection_pool=True)


def _decision(reply: bytes, scoped: Sequence[Limit], tokens: Limit | None) -> Decision:
    allowed, refused, retry, best, best_rem, reset, tok_used, tok_reset = reply.split()
    index = int(refused)
    if index == 0:
        scope = None
    elif index == len(scoped) + 1:
        scope = TOKENS_SCOPE
    else:
        scope = scoped[index - 1].scope
    best_index = int(best)
    decision = Decision(
        allowed == b"1", scope, float(retry),
        scoped[best_index - 1].limit if best_index else 0,
        max(0, int(float(best_rem))) if best_index else 0,
        float(reset),
    )
    if tokens is not None:
        decision.tokens_limit = tokens.limit
        decision.tokens_remaining = max(0, tokens.limit - int(float(tok_used)))
        decision.tokens_reset = float(tok_reset)
    return decision
