"""The stdout tables of the comparison phases (``compare.py``): one table per phase,
variants as columns, plus the ratio or the difference that phase is about."""

from __future__ import annotations

from typing import Any

from .report import fmt, lookup

__all__ = ["render_compare"]

Result = dict[str, Any]
_W = 32

_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("closed-loop req/s", ("closed", "rps")),
    ("closed-loop p50 ms", ("closed", "p50_ms")),
    ("closed-loop p99 ms", ("closed", "p99_ms")),
    ("CPU ms/request (closed)", ("closed", "cpu_ms_per_request")),
    ("proxy cores busy (closed)", ("closed", "mid_busy")),
    ("other processes, cores (closed)", ("closed", "foreign_cores")),
    ("open p50 ms", ("open", "p50_ms")),
    ("open p99 ms", ("open", "p99_ms")),
    ("CPU ms/request (open)", ("open", "cpu_ms_per_request")),
    ("other processes, cores (open)", ("open", "foreign_cores")),
    ("requests sent (with warm-up)", ("sent",)),
    ("errors", ("errors",)),
)


def _table(variants: Result, columns: list[tuple[str, str]],
           extra: list[tuple[str, str, str, str]]) -> list[str]:
    """``columns``: (variant key, heading); ``extra``: (heading, a, b, "ratio"|"diff")."""
    head = f"{'figure':<{_W}}" + "".join(f"{h:>13}" for _, h in columns)
    lines = [head + "".join(f"{h:>13}" for h, *_ in extra)]
    for label, path in _ROWS:
        values = [lookup(variants.get(k, {}), *path) for k, _ in columns]
        if all(v is None for v in values):
            continue
        cells = [fmt(v) for v in values]
        for _, a, b, how in extra:
            va, vb = lookup(variants.get(a, {}), *path), lookup(variants.get(b, {}), *path)
            ok = isinstance(va, int | float) and isinstance(vb, int | float)
            if not ok or path[0] not in ("closed", "open"):
                cells.append("-")
            elif how == "ratio":
                cells.append(f"{va / vb:.3f}x" if vb else "-")
            else:
                cells.append(f"{va - vb:+.3f}")
        lines.append(f"{label:<{_W}}" + "".join(f"{c:>13}" for c in cells))
    return lines


def _audit(res: Result) -> list[str]:
    some = next(iter(res["variants"].values()))
    lines = [f"== audit: AUDIT_ENABLED true vs false; closed loop {some['closed']['requests']} "
             f"requests @{some['closed']['concurrency']} connections, open loop "
             f"{some['open']['rate']} req/s =="]
    lines += _table(res["variants"], [("audit_on", "audit on"), ("audit_off", "audit off")],
                    [("on/off", "audit_on", "audit_off", "ratio")])
    r = res["records"]
    lines.append(f"audit records: {r['written']} written of {r['sent']} requests sent "
                 f"({'none lost' if r['none_lost'] else str(r['lost']) + ' LOST'}); "
                 f"{r['written_before_stop']} already written before shutdown "
                 f"({r['seconds_to_write']} s after the load); dropped metric "
                 f"{r['dropped_metric']:.0f}; rows with audit off: {r['written_with_audit_off']}")
    within = ", ".join(f"{k.replace('_', ' ')} {fmt(res['ratio_on_off'][k], 3)}x "
                       f"{ {True: 'yes', False: 'NO', None: '-'}[v]}"
                       for k, v in res["latency_within_5pct"].items())
    lines.append(f"latency with audit on within 5 % of audit off: {within}")
    return lines


def _limits(res: Result) -> list[str]:
    cols = [("limits_off", "off"), ("limits_memory", "in-process"), ("limits_redis", "Redis")]
    cols = [c for c in cols if c[0] in res["variants"]]
    extra = [("+in-process", "limits_memory", "limits_off", "diff")]
    if "limits_redis" in res["variants"]:
        extra.append(("+Redis", "limits_redis", "limits_off", "diff"))
    lines = ["== limits: rate limits off vs in-process vs Redis (4 request scopes + tokens, "
             "limits 10^9 so nothing is refused) =="]
    lines += _table(res["variants"], cols, extra)
    if res["redis_skipped"]:
        lines.append(f"NOTE: {res['redis_skipped']}")
    else:
        lines.append(f"Redis: {res['redis_url']}; limiter keys found after the run: "
                     f"{fmt(res['redis_keys_found'])} of 5 (deleted)")
    lines.append("the limiter alone (scripts/bench_ratelimit.py, sequential calls, no HTTP):")
    lines.append(f"  {'operation':34}{'calls':>8}{'p50 us':>9}{'p99 us':>9}{'CPU us':>9}")
    lines.extend(f"  {r['operation']:34}{r['calls']:>8}{r['p50_us']:>9.1f}{r['p99_us']:>9.1f}"
                 f"{r['cpu_us']:>9.1f}" for r in res["limiter_alone"])
    if res["limiter_alone_note"]:
        lines.append(f"  NOTE: {res['limiter_alone_note']}")
    return lines


def _workers(res: Result) -> list[str]:
    lines = ["== workers: serve --workers 1 vs 2, closed loop, not pinned =="]
    lines += _table(res["variants"], [("workers_1", "--workers 1"), ("workers_2", "--workers 2")],
                    [("2/1", "workers_2", "workers_1", "ratio")])
    lines.append(f"NOTE: {res['note']}.")
    return lines


def _features(res: Result) -> list[str]:
    lines = ["== features: tracing off vs on at 100 % sampling (OTLP/HTTP to a local sink) =="]
    lines += _table(res["variants"], [("plain", "tracing off"), ("tracing", "tracing on")],
                    [("on/off", "tracing", "plain", "ratio")])
    lines.append(f"OTLP export requests received by the sink: {fmt(res['otlp_exports'])}"
                 + (f"; PROBLEM: {res['problem']}" if res["problem"] else ""))
    return lines


def _error_kinds(res: Result) -> list[str]:
    lines = []
    for name, variant in res.get("variants", {}).items():
        kinds: dict[str, int] = {}
        for kind in ("closed", "open"):
            for err, n in variant.get(kind, {}).get("error_kinds", {}).items():
                kinds[err] = kinds.get(err, 0) + n
        if kinds or variant.get("warmup_errors"):
            lines.append(f"ERRORS {name}: {kinds} (+{variant.get('warmup_errors', 0)} in warm-up)")
    return lines


def render_compare(extras: Result) -> str:
    parts = []
    for phase, render in (("audit", _audit), ("limits", _limits), ("workers", _workers),
                          ("features", _features)):
        if phase not in extras:
            continue
        res = extras[phase]
        if "failed" in res:
            parts.append(f"== {phase}: FAILED ==\n{res['failed']}")
        else:
            parts.append("\n".join([*render(res), *_error_kinds(res)]))
    return "\n\n".join(parts)
