"""The comparison phases: the gateway started several ways, the same load on each.

``audit``    AUDIT_ENABLED true vs false; then the audit rows in the audit-on proxy's
             SQLite file must equal the requests sent to it (warm-up included).
``limits``   rate limits off vs in-process (four request scopes + the token check) vs
             Redis; added latency and CPU per request over "off"; plus the rows of
             ``scripts/bench_ratelimit.py`` (the limiter alone, no HTTP).
``workers``  ``serve --workers 1`` vs ``--workers 2``, not pinned: closed-loop throughput.
``budgets``  no budget vs a budget on the bench key, in process and with Redis, whole and
             streamed (``budget_phase``).
``features`` tracing off vs on at 100 % sampling, exported to a local OTLP sink (``features``).

Every load runs in two halves, in the order A B … B A, so a drift in the machine's load
falls on every variant alike. Audit and limits variants are pinned to the core of the
process under test, like the main proxy; all variants of a phase run at once (the idle
ones cost nothing measurable).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import uvloop
from redis.exceptions import RedisError

from .loads import Samples, closed_loop, open_loop
from .phases import Bench, CpuUse, Plan
from .procs import Proc, tree_cpu_seconds
from .redis_keys import delete_limiter_keys, redis_problem
from .variants import Gateway, Running, Variant, audit_rows, metric, running_variants

__all__ = ["EXTRA_PHASES", "Extras", "count_errors"]

EXTRA_PHASES = ("audit", "limits", "workers", "budgets", "features")
ON = {"RATE_LIMIT_GLOBAL_RPM": "1000000000", "RATE_LIMIT_PER_KEY_RPM": "1000000000",
      "RATE_LIMIT_PER_TENANT_RPM": "1000000000", "RATE_LIMIT_PER_IP_RPM": "1000000000"}
OFF = dict.fromkeys(ON, "0")

Measured = tuple[Samples, CpuUse]
Load = Callable[[str, int], Awaitable[Samples]]  # (variant, half 0|1) -> samples


def _ratio(a: Any, b: Any) -> float | None:
    return a / b if isinstance(a, int | float) and isinstance(b, int | float) and b else None


def _minus(a: Any, b: Any) -> float | None:
    return a - b if isinstance(a, int | float) and isinstance(b, int | float) else None


def count_errors(extras: dict[str, Any]) -> tuple[int, int]:
    """(failed requests + failed phases + lost audit records, malformed events) of the
    comparison phases."""
    errors = malformed = 0
    for res in extras.values():
        errors += 1 if "failed" in res else 0
        errors += max(0, res.get("records", {}).get("lost", 0))
        for variant in res.get("variants", {}).values():
            errors += variant["errors"]
            malformed += variant["malformed"]
    return errors, malformed


@dataclass
class Extras:
    gateway: Gateway
    plan: Plan
    upstream_pid: int
    procs: list[Proc]
    log: Callable[[str], None]
    redis_url: str

    def run(self, phase: str) -> dict[str, Any]:
        if phase == "budgets":
            from .budget_phase import budgets_phase

            return budgets_phase(self)
        if phase == "features":
            from .features import features_phase
            from .variants import free_port

            return features_phase(self, free_port())
        return {"audit": self.audit, "limits": self.limits, "workers": self.workers}[phase]()

    # -- measuring ---------------------------------------------------------------------------

    def _bench(self, runs: dict[str, Running], tree: bool = False) -> Bench:
        return Bench(self.plan, {n: r.target for n, r in runs.items()},
                     {n: r.proc.pid for n, r in runs.items()}, self.upstream_pid,
                     **({"cpu_of": tree_cpu_seconds} if tree else {}))

    async def _abba(self, bench: Bench, names: list[str], load: Load) -> dict[str, Measured]:
        out: dict[str, Measured] = {}
        for half, order in enumerate((names, names[::-1])):
            for name in order:
                s, cpu = await bench.measure(name, lambda n=name, h=half: load(n, h))  # type: ignore[misc]
                if name in out:
                    s, cpu = out[name][0].merge(s), out[name][1] + cpu
                out[name] = (s, cpu)
        return out

    async def _loads(self, bench: Bench, names: list[str]) -> dict[str, dict[str, Any]]:
        """Warm-up, then closed loop (``compare_requests``) and open loop (``compare_open``)
        on every variant; per variant: closed, open, sent (warm-up included)."""
        p = self.plan
        raw = {n: bench.raw(n, p.unary_model, False) for n in names}
        sent = dict.fromkeys(names, 0)
        errors = dict.fromkeys(names, 0)
        for n in names:
            w = await closed_loop(bench.targets[n], raw[n], None, duration=p.warmup_seconds,
                                  concurrency=min(16, p.compare_concurrency))
            sent[n] += w.sent
            errors[n] += w.error_count + w.malformed
        halves = (p.compare_requests // 2, p.compare_requests - p.compare_requests // 2)
        closed = await self._abba(bench, names, lambda n, h: closed_loop(
            bench.targets[n], raw[n], None, concurrency=p.compare_concurrency,
            duration=120.0, requests=halves[h]))
        rate, seconds = p.compare_open
        opened = await self._abba(bench, names[::-1], lambda n, h: open_loop(
            bench.targets[n], raw[n], rate=rate, duration=seconds / 2))
        out: dict[str, dict[str, Any]] = {}
        for n in names:
            c, o = bench.summary(*closed[n]), bench.summary(*opened[n])
            c.update(concurrency=p.compare_concurrency, requests=p.compare_requests)
            o["rate"] = rate
            sent[n] += closed[n][0].sent + opened[n][0].sent
            out[n] = {"closed": c, "open": o, "sent": sent[n], "warmup_errors": errors[n],
                      "errors": errors[n] + c["errors"] + o["errors"],
                      "malformed": c["malformed"] + o["malformed"]}
        return out

    # -- phases ------------------------------------------------------------------------------

    def audit(self) -> dict[str, Any]:
        variants = [Variant("audit_on"), Variant("audit_off", env={"AUDIT_ENABLED": "false"})]
        with running_variants(self.gateway, variants, self.procs, self.log) as runs:
            self.log("audit: on vs off")
            res = uvloop.run(self._loads(self._bench(runs), list(runs)))
            on, off = runs["audit_on"], runs["audit_off"]
            sent = res["audit_on"]["sent"]
            started, deadline = time.monotonic(), time.monotonic() + 5.0
            while (written := audit_rows(on.database)) < sent and time.monotonic() < deadline:
                time.sleep(0.05)
            records: dict[str, Any] = {
                "sent": sent, "written_before_stop": written,
                "seconds_to_write": round(time.monotonic() - started, 2),
                "dropped_metric": metric(on.target.port, "proxy_audit_dropped_total") or 0.0,
            }
            exits = {n: r.stop() for n, r in runs.items()}
        records["written"] = audit_rows(on.database)
        records["lost"] = sent - records["written"]
        records["none_lost"] = records["lost"] == 0
        records["written_with_audit_off"] = audit_rows(off.database)
        a, b = res["audit_on"], res["audit_off"]
        ratio = {
            "closed_rps": _ratio(a["closed"]["rps"], b["closed"]["rps"]),
            "closed_p50": _ratio(a["closed"]["p50_ms"], b["closed"]["p50_ms"]),
            "closed_p99": _ratio(a["closed"]["p99_ms"], b["closed"]["p99_ms"]),
            "closed_cpu_ms_per_request": _ratio(a["closed"]["cpu_ms_per_request"],
                                                b["closed"]["cpu_ms_per_request"]),
            "open_p50": _ratio(a["open"]["p50_ms"], b["open"]["p50_ms"]),
            "open_p99": _ratio(a["open"]["p99_ms"], b["open"]["p99_ms"]),
            "open_cpu_ms_per_request": _ratio(a["open"]["cpu_ms_per_request"],
                                              b["open"]["cpu_ms_per_request"]),
        }
        within = {k: (v <= 1.05 if v is not None else None)
                  for k, v in ratio.items() if k.endswith(("p50", "p99"))}
        return {"variants": res, "ratio_on_off": ratio, "latency_within_5pct": within,
                "records": records, "exit_codes": exits}

    def limits(self) -> dict[str, Any]:
        problem = redis_problem(self.redis_url)
        variants = [Variant("limits_off", env=OFF, tpm_limit=None),
                    Variant("limits_memory", env=ON)]
        if problem is None:
            variants.append(Variant("limits_redis", env={**ON, "REDIS_URL": self.redis_url}))
        with running_variants(self.gateway, variants, self.procs, self.log) as runs:
            self.log("limits: off vs in-process" + (" vs Redis" if problem is None else ""))
            res = uvloop.run(self._loads(self._bench(runs), list(runs)))
            exits = {n: r.stop() for n, r in runs.items()}
        redis_keys = None
        if "limits_redis" in runs:
            redis_keys = delete_limiter_keys(self.redis_url, runs["limits_redis"].client_id)
        base = res["limits_off"]
        added: dict[str, dict[str, float | None]] = {}
        for name in ("limits_memory", "limits_redis"):
            if name in res:
                added[name] = {f"{kind}_{fig}": _minus(res[name][kind][fig], base[kind][fig])
                               for kind in ("open", "closed")
                               for fig in ("p50_ms", "p99_ms", "cpu_ms_per_request")}
        self.log("limits: scripts/bench_ratelimit.py (the limiter alone)")
        micro, micro_note = self._micro(None if problem else self.redis_url)
        return {"variants": res, "added_over_off": added, "exit_codes": exits,
                "redis_url": self.redis_url, "redis_skipped": problem,
                "redis_keys_found": redis_keys, "limiter_alone": micro,
                "limiter_alone_note": micro_note}

    def _micro(self, redis_url: str | None) -> tuple[list[dict[str, Any]], str | None]:
        from scripts.bench_ratelimit import measure_limiters

        p = self.plan
        try:
            rows = uvloop.run(measure_limiters(p.ratelimit_calls, p.ratelimit_calls,
                                               p.ratelimit_seconds, redis_url))
        except (RuntimeError, OSError, RedisError) as exc:
            return uvloop.run(measure_limiters(p.ratelimit_calls, p.ratelimit_calls,
                                               p.ratelimit_seconds, None)), str(exc)
        return rows, None

    def workers(self) -> dict[str, Any]:
        p = self.plan
        variants = [Variant(f"workers_{n}", args=("--workers", str(n)), workers=n, pinned=False)
                    for n in (1, 2)]
        with running_variants(self.gateway, variants, self.procs, self.log) as runs:
            self.log("workers: --workers 1 vs 2 (not pinned)")
            bench = self._bench(runs, tree=True)

            warm_errors = dict.fromkeys(runs, 0)

            async def measure() -> dict[str, Measured]:
                raw = {n: bench.raw(n, p.unary_model, False) for n in runs}
                for n in runs:
                    w = await closed_loop(bench.targets[n], raw[n], None, concurrency=16,
                                          duration=p.warmup_seconds)
                    warm_errors[n] = w.error_count + w.malformed
                return await self._abba(bench, list(runs), lambda n, h: closed_loop(
                    bench.targets[n], raw[n], None, concurrency=p.closed_concurrency,
                    duration=p.workers_seconds / 2))

            measured = uvloop.run(measure())
            exits = {n: r.stop() for n, r in runs.items()}
        res = {n: {"closed": {"concurrency": p.closed_concurrency, **bench.summary(*m)}}
               for n, m in measured.items()}
        for n, r in res.items():
            r["errors"] = warm_errors[n] + r["closed"]["errors"]
            r["malformed"] = r["closed"]["malformed"]
        cpus = len(self.gateway.all_cpus.split(",")) if self.gateway.all_cpus else None
        return {
            "variants": res, "exit_codes": exits, "cpus": cpus,
            "rps_ratio_2_over_1": _ratio(res["workers_2"]["closed"]["rps"],
                                         res["workers_1"]["closed"]["rps"]),
            "note": (f"workers not pinned; on this {cpus}-CPU machine the fake upstream and "
                     "the load generator share the CPUs with the workers, so the ratio "
                     "understates how throughput scales with cores"),
        }
