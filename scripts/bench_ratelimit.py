"""Added latency of the rate limiter per request: in-process and Redis.

    python scripts/bench_ratelimit.py [--count 20000] [--redis-url redis://127.0.0.1:6379/0]
                                      [--max-seconds 10] [--no-redis]

Each row times sequential calls (4 request scopes + the token check, the gateway's
shape) and prints wall-clock mean/p50/p99 per call and CPU per call (process time /
calls). Every row stops at ``--count`` calls or ``--max-seconds``, whichever comes first.
Redis keys use a fresh prefix and are deleted afterwards. ``scripts/bench --phases limits``
calls :func:`measure_limiters` and folds the rows into its JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxy.ratelimit import (
    FailoverRateLimiter,
    Limit,
    MemoryRateLimiter,
    RedisRateLimiter,
    connect_redis,
)

__all__ = ["measure_limiters", "render_rows"]

BIG = 1_000_000_000
TOKENS = Limit("key", "bench-key", BIG)


def _rules(i: int) -> list[Limit]:
    return [
        Limit("global", "*", BIG),
        Limit("tenant", "acme", BIG),
        Limit("key", "bench-key", BIG),
        Limit("ip", f"10.0.{(i // 256) % 4}.{i % 256}", BIG),
    ]


async def _measure(
    name: str, call: Callable[[int], Awaitable[object]], count: int, max_seconds: float
) -> dict[str, float | int | str]:
    for i in range(min(200, count)):  # warm-up: scripts loaded, connections open
        await call(i)
    samples: list[float] = []
    deadline = time.perf_counter() + max_seconds
    cpu0 = time.process_time()
    for i in range(count):
        t0 = time.perf_counter()
        await call(i)
        t1 = time.perf_counter()
        samples.append(t1 - t0)
        if t1 > deadline:
            break
    cpu = (time.process_time() - cpu0) / len(samples)
    samples.sort()
    p50 = samples[len(samples) // 2]
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return {"operation": name, "calls": len(samples), "mean_us": statistics.fmean(samples) * 1e6,
            "p50_us": p50 * 1e6, "p99_us": p99 * 1e6, "cpu_us": cpu * 1e6}


async def measure_limiters(count: int, redis_count: int, max_seconds: float,
                           redis_url: str | None) -> list[dict[str, float | int | str]]:
    """One row per operation (in-process, then Redis unless ``redis_url`` is None):
    operation, calls, mean_us, p50_us, p99_us, cpu_us. Raises RuntimeError when the Redis
    limiter fell back to the in-process one during the run."""
    rows = []
    memory = MemoryRateLimiter()
    rules = [_rules(i) for i in range(1024)]
    rows.append(await _measure(
        "memory acquire", lambda i: memory.acquire(rules[i & 1023], TOKENS), count, max_seconds,
    ))
    rows.append(await _measure(
        "memory charge_tokens", lambda i: memory.charge_tokens(TOKENS, 100), count, max_seconds,
    ))
    if redis_url is None:
        return rows
    prefix = f"bench:rl:{uuid.uuid4().hex}:"
    redis = RedisRateLimiter(connect_redis(redis_url, timeout=1.0), prefix=prefix)
    failover = FailoverRateLimiter(
        RedisRateLimiter(connect_redis(redis_url, timeout=1.0), prefix=prefix),
        MemoryRateLimiter(), timeout=1.0,
    )
    try:
        n = min(count, redis_count)
        rows.append(await _measure(
            "redis acquire", lambda i: redis.acquire(rules[i & 1023], TOKENS), n, max_seconds,
        ))
        rows.append(await _measure(
            "redis acquire (failover wrapper)",
            lambda i: failover.acquire(rules[i & 1023], TOKENS), n, max_seconds,
        ))
        rows.append(await _measure(
            "redis charge_tokens", lambda i: redis.charge_tokens(TOKENS, 100), n, max_seconds,
        ))
        if failover.degraded:
            raise RuntimeError("Redis failed during the benchmark (the limiter fell back)")
    finally:
        keys = [k async for k in redis.client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await redis.client.delete(*keys)
        await redis.aclose()
        await failover.aclose()
    return rows


def render_rows(rows: list[dict[str, float | int | str]]) -> str:
    lines = [f"{'operation':34} {'calls':>7} {'mean µs':>9} {'p50 µs':>9} {'p99 µs':>9} {'CPU µs':>8}"]
    lines.extend(f"{r['operation']:34} {r['calls']:7d} {r['mean_us']:9.1f} {r['p50_us']:9.1f} "
                 f"{r['p99_us']:9.1f} {r['cpu_us']:8.1f}" for r in rows)
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    rows = await measure_limiters(args.count, args.redis_count, args.max_seconds,
                                  None if args.no_redis else args.redis_url)
    print(render_rows(rows))


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--redis-count", type=int, default=10_000)
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--no-uvloop", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    options = _parse()
    if options.no_uvloop:
        asyncio.run(main(options))
    else:
        import uvloop

        uvloop.run(main(options))
