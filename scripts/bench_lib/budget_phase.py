"""The ``budgets`` comparison phase: what reserving and settling a budget costs a request.

Four variants of the gateway, the same bench key: without a budget and with one (a
monthly ``budget_usd`` far above what the run spends, so every request is reserved,
settled and admitted), each in process and with ``REDIS_URL`` (the Redis pair also shares
its rate limits through Redis, so "off" and "on" differ only by the budget). Loads, every
variant in A B … B A order: the non-streaming closed and open loops of the other
comparison phases, then a closed loop of streams (``stream_chunks`` chunks each). The
figures are the CPU and latency added by the budget over the same variant without one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis
import uvloop
from redis.exceptions import RedisError

from .loads import closed_loop
from .redis_keys import redis_problem
from .variants import Variant, running_variants

if TYPE_CHECKING:
    from .compare import Extras
    from .phases import Bench

__all__ = ["budgets_phase"]

BUDGET = 1e9  # USD: never reached, every request reserves and settles


def _minus(a: Any, b: Any) -> float | None:
    return a - b if isinstance(a, int | float) and isinstance(b, int | float) else None


def _ratio(a: Any, b: Any) -> float | None:
    return a / b if isinstance(a, int | float) and isinstance(b, int | float) and b else None


async def _streams(extras: Extras, bench: Bench, names: list[str]) -> dict[str, Any]:
    p = extras.plan
    raw = {n: bench.raw(n, p.stream_model, True) for n in names}
    measured = await extras._abba(bench, names, lambda n, h: closed_loop(
        bench.targets[n], raw[n], p.stream_chunks, concurrency=min(64, p.stream_concurrency),
        duration=p.stream_seconds / 2))
    out: dict[str, Any] = {}
    for n, (samples, cpu) in measured.items():
        summary = bench.summary(samples, cpu)
        summary["cpu_ms_per_stream"] = summary.pop("cpu_ms_per_request")
        summary["streams_per_s"] = summary.pop("rps")
        out[n] = summary
    return out


def _delete_spend_keys(url: str, client_id: int) -> int | None:
    client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)
    try:
        keys = list(client.scan_iter(f"sp:key:{client_id}:*")) + list(
            client.scan_iter("sp:tenant:bench:*"))
        if keys:
            client.delete(*keys)
        return len(keys)
    except (RedisError, OSError):
        return None
    finally:
        client.close()


def budgets_phase(extras: Extras) -> dict[str, Any]:
    problem = redis_problem(extras.redis_url)
    variants = [Variant("budgets_off"), Variant("budgets_memory", budget_usd=BUDGET)]
    if problem is None:
        redis_env = {"REDIS_URL": extras.redis_url}
        variants += [Variant("budgets_off_redis", env=redis_env),
                     Variant("budgets_redis", env=redis_env, budget_usd=BUDGET)]
    with running_variants(extras.gateway, variants, extras.procs, extras.log) as runs:
        extras.log("budgets: none vs a budget, in process" +
                   (" and with Redis" if problem is None else ""))
        bench = extras._bench(runs)
        names = list(runs)
        res = uvloop.run(extras._loads(bench, names))
        streams = uvloop.run(_streams(extras, bench, names))
        exits = {n: r.stop() for n, r in runs.items()}
    spend_keys = None
    if "budgets_redis" in runs:
        spend_keys = _delete_spend_keys(extras.redis_url, runs["budgets_redis"].client_id)
    added: dict[str, dict[str, float | None]] = {}
    for on, off in (("budgets_memory", "budgets_off"), ("budgets_redis", "budgets_off_redis")):
        if on not in res:
            continue
        figures: dict[str, float | None] = {
            f"{kind}_{fig}": _minus(res[on][kind][fig], res[off][kind][fig])
            for kind in ("open", "closed") for fig in ("p50_ms", "p99_ms", "cpu_ms_per_request")}
        figures["closed_cpu_ratio"] = _ratio(res[on]["closed"]["cpu_ms_per_request"],
                                             res[off]["closed"]["cpu_ms_per_request"])
        figures["stream_cpu_ms"] = _minus(streams[on]["cpu_ms_per_stream"],
                                          streams[off]["cpu_ms_per_stream"])
        figures["stream_cpu_ratio"] = _ratio(streams[on]["cpu_ms_per_stream"],
                                             streams[off]["cpu_ms_per_stream"])
        added[on] = figures
    return {"variants": res, "streams": streams, "added_over_no_budget": added,
            "exit_codes": exits, "redis_skipped": problem, "redis_spend_keys": spend_keys}
