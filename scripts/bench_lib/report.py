"""Figures, targets and the stdout table. Input: the per-target phase summaries that
``phases`` produces (plain dicts, also written to the JSON file)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["TARGETS", "check_targets", "fmt", "lookup", "pct", "render"]

Result = dict[str, Any]

#: (figure key, label, comparison, target value, unit)
TARGETS: tuple[tuple[str, str, str, float, str], ...] = (
    ("cpu_ms_per_request", "CPU per non-streaming request", "<=", 0.30, "ms"),
    ("closed_rps", "closed-loop throughput (1 core)", ">=", 3000.0, "req/s"),
    ("added_p50_ms_at_50", "added latency p50 @ 50 req/s", "<=", 0.8, "ms"),
    ("added_p99_ms_at_50", "added latency p99 @ 50 req/s", "<=", 3.0, "ms"),
    ("cpu_us_per_chunk", "CPU per relayed stream chunk", "<=", 20.0, "us"),
    ("chunks_per_s", "streaming relay", ">=", 40000.0, "chunks/s"),
    ("rss_mb_open_streams", "RSS with the slow streams open", "<=", 120.0, "MB"),
)


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def lookup(result: Result, *path: str) -> Any:
    node: Any = result
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def figures(results: Result, target: str) -> dict[str, float | None]:
    """The headline figures of one middle target (``proxy`` or ``floor``)."""
    mine, direct = results.get(target, {}), results.get("direct", {})
    out: dict[str, float | None] = {
        "cpu_ms_per_request": lookup(mine, "closed", "cpu_ms_per_request"),
        "closed_rps": lookup(mine, "closed", "rps"),
        "cpu_us_per_chunk": lookup(mine, "stream", "cpu_us_per_chunk"),
        "chunks_per_s": lookup(mine, "stream", "chunks_per_s"),
        "rss_mb_open_streams": lookup(mine, "memory", "rss_mb_all_open"),
    }
    for q in ("p50", "p99"):
        theirs, base = lookup(mine, "open", "50", f"{q}_ms"), lookup(direct, "open", "50", f"{q}_ms")
        out[f"added_{q}_ms_at_50"] = (theirs - base) if theirs is not None and base is not None else None
    return out


def check_targets(results: Result) -> list[dict[str, Any]]:
    proxy, floor = figures(results, "proxy"), figures(results, "floor")
    rows = []
    for key, label, op, target, unit in TARGETS:
        value = proxy.get(key)
        holds = None if value is None else (value <= target if op == "<=" else value >= target)
        rows.append({"figure": key, "label": label, "unit": unit, "proxy": value,
                     "floor": floor.get(key), "target": f"{op} {target:g}", "holds": holds})
    return rows


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("closed-loop req/s", ("closed", "rps")),
    ("closed-loop p50 ms", ("closed", "p50_ms")),
    ("closed-loop p99 ms", ("closed", "p99_ms")),
    ("CPU ms/request (closed)", ("closed", "cpu_ms_per_request")),
    ("core busy (closed)", ("closed", "mid_busy")),
    ("core-0 busy: upstream+loadgen", ("closed", "core0_busy")),
    ("other processes, cores (closed)", ("closed", "foreign_cores")),
    ("open 10/s p50 ms", ("open", "10", "p50_ms")),
    ("open 10/s p99 ms", ("open", "10", "p99_ms")),
    ("open 50/s p50 ms", ("open", "50", "p50_ms")),
    ("open 50/s p99 ms", ("open", "50", "p99_ms")),
    ("open 200/s p50 ms", ("open", "200", "p50_ms")),
    ("open 200/s p99 ms", ("open", "200", "p99_ms")),
    ("CPU ms/request (200/s)", ("open", "200", "cpu_ms_per_request")),
    ("stream chunks/s", ("stream", "chunks_per_s")),
    ("stream TTFC p50 ms", ("stream", "ttfc_p50_ms")),
    ("stream TTFC p99 ms", ("stream", "ttfc_p99_ms")),
    ("CPU us/chunk", ("stream", "cpu_us_per_chunk")),
    ("other processes, cores (stream)", ("stream", "foreign_cores")),
    ("CPU ms/req chat (same phase)", ("responses", "chat", "cpu_ms_per_request")),
    ("CPU ms/req responses, store", ("responses", "responses_store", "cpu_ms_per_request")),
    ("CPU ms/req responses, no store",
     ("responses", "responses_no_store", "cpu_ms_per_request")),
    ("CPU ms/stream chat", ("responses", "chat_stream", "cpu_ms_per_request")),
    ("CPU ms/stream responses, store",
     ("responses", "responses_stream_store", "cpu_ms_per_request")),
    ("CPU ms/stream responses, no store",
     ("responses", "responses_stream_no_store", "cpu_ms_per_request")),
    ("cache hit req/s", ("cache", "hit", "rps")),
    ("CPU ms/req cache hit", ("cache", "hit", "cpu_ms_per_request")),
    ("CPU ms/stream cache hit", ("cache", "stream_hit", "cpu_ms_per_request")),
    ("CPU ms/stream cache off", ("cache", "stream_off", "cpu_ms_per_request")),
    ("CPU ms/req cache off (unique)", ("cache", "off", "cpu_ms_per_request")),
    ("CPU ms/req cache on, all miss", ("cache", "miss", "cpu_ms_per_request")),
    ("CPU ms added by a cache miss", ("cache", "miss_added_cpu_ms")),
    ("RSS MB idle", ("memory", "rss_mb_before")),
    ("RSS MB, slow streams open", ("memory", "rss_mb_all_open")),
    ("slow streams open (min)", ("memory", "streams_open")),
    ("chat CPU ms/request", ("messages", "chat_unary", "cpu_ms_per_request")),
    ("Messages→openai CPU ms/request", ("messages", "messages_translated_unary",
                                         "cpu_ms_per_request")),
    ("Messages→anthropic CPU ms/request", ("messages", "messages_native_unary",
                                            "cpu_ms_per_request")),
    ("chat stream CPU ms/stream", ("messages", "chat_stream", "cpu_ms_per_request")),
    ("Messages→openai CPU ms/stream", ("messages", "messages_translated_stream",
                                        "cpu_ms_per_request")),
    ("Messages→anthropic CPU ms/stream", ("messages", "messages_native_stream",
                                          "cpu_ms_per_request")),
    ("errors", ("errors",)),
    ("malformed SSE events", ("malformed",)),
)


def render(results: Result, checks: list[dict[str, Any]]) -> str:
    names = [n for n in ("direct", "floor", "proxy") if n in results]
    width = 32
    lines = ["".join([f"{'figure':<{width}}", *(f"{n:>12}" for n in names),
                      f"{'proxy/floor':>12}"])]
    for label, path in _ROWS:
        values = [lookup(results[n], *path) for n in names]
        if all(v is None for v in values):
            continue
        ratio = "-"
        p, f = lookup(results.get("proxy", {}), *path), lookup(results.get("floor", {}), *path)
        if isinstance(p, int | float) and isinstance(f, int | float) and f:
            ratio = f"{p / f:.2f}x"
        lines.append("".join([f"{label:<{width}}", *(f"{fmt(v):>12}" for v in values),
                              f"{ratio:>12}"]))
    lines.append("")
    lines.append(f"{'target (proxy)':<42}{'proxy':>12}{'floor':>12}{'target':>14}{'holds?':>8}")
    for row in checks:
        holds = {True: "yes", False: "NO", None: "-"}[row["holds"]]
        lines.append(f"{row['label'] + ' (' + row['unit'] + ')':<42}{fmt(row['proxy']):>12}"
                     f"{fmt(row['floor']):>12}{row['target']:>14}{holds:>8}")
    busiest = max((x for x in _foreign(results)), default=0.0)
    if busiest > 0.2:
        lines.append(f"\nWARNING: other processes used up to {busiest:.2f} cores during a phase; "
                     "the figures are pessimistic (rerun on a quiet machine).")
    return "\n".join(lines)


def _foreign(results: Result) -> list[float]:
    out = []
    for res in results.values():
        for phase in res.values():
            if not isinstance(phase, dict):
                continue
            for sub in (phase, *[v for v in phase.values() if isinstance(v, dict)]):
                if isinstance(sub.get("foreign_cores"), float):
                    out.append(sub["foreign_cores"])
    return out
