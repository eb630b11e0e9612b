"""The ``features`` comparison phase: what tracing costs, on gateways of their own against
the same upstream, measured in the same run (budgets have their own phase,
``budget_phase``):

``plain``    every default on (as the main proxy), tracing off;
``tracing``  OpenTelemetry on at 100 % sampling (``OTEL_TRACES_SAMPLER=always_on``),
             exporting OTLP/HTTP to a local sink that the bench runs (``otlp_sink``);
             the sink's count of export requests shows the spans really left.

Each variant: CPU per whole chat request, closed loop (``compare_requests`` at
``compare_concurrency``, in halves A B C … C B A so load drift falls on all alike).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import orjson
import uvloop

from .loads import closed_loop
from .procs import Proc, get
from .variants import Variant, running_variants

if TYPE_CHECKING:
    from .compare import Extras

__all__ = ["features_phase"]

def _sink(extras: Extras, port: int) -> Proc:
    gw = extras.gateway
    sink = Proc("otlp-sink", [sys.executable, "-m", "scripts.bench_lib.otlp_sink",
                              "--port", str(port)],
                env=dict(gw.env_for(gw.tmp / "otlp-sink")), cwd=gw.tmp,
                log=gw.tmp / "otlp-sink.log", core=None)
    extras.procs.append(sink)
    sink.start(port, "/health")
    return sink


def _exports(port: int) -> int | None:
    try:
        status, body = get(port, "/stats", timeout=5.0)
    except OSError:
        return None
    return int(orjson.loads(body)["exports"]) if status == 200 else None


def features_phase(extras: Extras, sink_port: int) -> dict[str, Any]:
    p = extras.plan
    sink = _sink(extras, sink_port)
    tracing_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
                   "OTEL_TRACES_SAMPLER": "always_on", "OTEL_BSP_SCHEDULE_DELAY": "500"}
    variants = [Variant("plain"), Variant("tracing", env=tracing_env)]
    try:
        with running_variants(extras.gateway, variants, extras.procs, extras.log) as runs:
            extras.log("features: tracing off vs on")
            bench = extras._bench(runs)
            names = list(runs)

            async def measure() -> dict[str, Any]:
                raw = {n: bench.raw(n, p.unary_model, False) for n in names}
                warm = {}
                for n in names:
                    w = await closed_loop(bench.targets[n], raw[n], None,
                                          duration=p.warmup_seconds,
                                          concurrency=min(16, p.compare_concurrency))
                    warm[n] = w.error_count + w.malformed
                halves = (p.compare_requests // 2, p.compare_requests - p.compare_requests // 2)
                measured = await extras._abba(bench, names, lambda n, h: closed_loop(
                    bench.targets[n], raw[n], None, concurrency=p.compare_concurrency,
                    duration=120.0, requests=halves[h]))
                return {"warm": warm, "measured": measured}

            done = uvloop.run(measure())
            deadline = time.monotonic() + 5.0  # the batch exporter sends every 0.5 s
            exports = _exports(sink_port)
            while not exports and time.monotonic() < deadline:
                time.sleep(0.2)
                exports = _exports(sink_port)
            exits = {n: r.stop() for n, r in runs.items()}
    finally:
        sink.stop()
    out: dict[str, Any] = {}
    for n in names:
        closed = bench.summary(*done["measured"][n])
        out[n] = {"closed": closed, "errors": done["warm"][n] + closed["errors"],
                  "malformed": closed["malformed"]}
    base = out["plain"]["closed"]["cpu_ms_per_request"]
    ratio = {n: (out[n]["closed"]["cpu_ms_per_request"] / base
                 if base and out[n]["closed"]["cpu_ms_per_request"] is not None else None)
             for n in names}
    problem = None if exports else "the OTLP sink received no export: tracing was not on"
    if problem:
        out["tracing"]["errors"] += 1
    return {"variants": out, "cpu_ratio_to_plain": ratio, "otlp_exports": exports,
            "problem": problem, "exit_codes": exits}
