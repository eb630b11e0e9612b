"""The measured phases, run against every target (direct, floor, proxy) in turn, with the
CPU time of the process in the middle read from ``/proc`` around each phase."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from .cache_phase import cache_phase
from .client import build_request
from .loads import Samples, Target, closed_loop, hold_streams, open_loop
from .procs import cpu_seconds, rss_bytes, system_busy
from .report import pct

__all__ = ["PHASES", "QUICK", "Bench", "CpuUse", "Plan"]

PHASES = ("closed", "open", "stream", "memory", "responses", "messages", "cache")
#: the Messages phase: (row, path, model prefix) — chat completions beside it for scale
MESSAGES_CASES = (
    ("chat", "/v1/chat/completions", ""),
    ("messages_translated", "/v1/messages", ""),  # → the openai provider
    ("messages_native", "/v1/messages", "bench-anthropic/"),  # → the anthropic provider
)
_MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Plan:
    closed_concurrency: int = 64
    closed_seconds: float = 10.0
    #: (requests per second, seconds)
    open_rates: tuple[tuple[int, float], ...] = ((10, 6.0), (50, 8.0), (200, 5.0))
    stream_concurrency: int = 200
    stream_chunks: int = 100
    stream_seconds: float = 5.0
    hold_streams: int = 1000
    hold_chunks: int = 50
    hold_delay_ms: int = 100
    warmup_seconds: float = 1.0
    # -- the proxy-variant phases (audit, limits, workers; see compare.py) --
    #: closed loop of the audit and limits phases: this many requests at this concurrency
    compare_requests: int = 2000
    compare_concurrency: int = 64
    #: their open loop: (requests per second, seconds)
    compare_open: tuple[int, float] = (50, 8.0)
    #: closed loop of the workers phase (concurrency = closed_concurrency)
    workers_seconds: float = 6.0
    #: scripts/bench_ratelimit.py inside the limits phase: calls per row, cap per row
    ratelimit_calls: int = 10_000
    ratelimit_seconds: float = 2.0
    #: each run of the responses phase (chat and Responses, whole and streamed, store
    #: on and off) is a closed loop of this long at ``closed_concurrency``
    responses_seconds: float = 4.0
    #: the Messages phase: closed loop per case, streamed and not
    messages_concurrency: int = 32
    messages_seconds: float = 4.0
    #: each run of the cache phase (see cache_phase.py)
    cache_seconds: float = 3.0

    def models(self) -> list[str]:
        return [self.unary_model, self.stream_model, self.hold_model]

    @property
    def unary_model(self) -> str:
        return "bench-c1-d0"

    @property
    def stream_model(self) -> str:
        return f"bench-c{self.stream_chunks}-d0"

    @property
    def hold_model(self) -> str:
        return f"bench-c{self.hold_chunks}-d{self.hold_delay_ms}"


QUICK = Plan(closed_concurrency=16, closed_seconds=1.0,
             open_rates=((10, 0.6), (50, 0.6), (200, 0.6)), stream_concurrency=20,
             stream_chunks=20, stream_seconds=0.8, hold_streams=50, hold_chunks=10,
             hold_delay_ms=40, warmup_seconds=0.2, compare_requests=300,
             compare_concurrency=16, compare_open=(50, 0.6), workers_seconds=1.0,
             ratelimit_calls=500, ratelimit_seconds=0.3, responses_seconds=0.4,
             messages_concurrency=8, messages_seconds=0.4, cache_seconds=0.4)


def _body(model: str, stream: bool) -> bytes:
    return orjson.dumps({
        "model": model, "stream": stream, "max_tokens": 64, "temperature": 0.2,
        "messages": [{"role": "system", "content": "You are a terse benchmark assistant."},
                     {"role": "user", "content": "Say hello to the gateway benchmark."}],
    })


def _responses_body(model: str, stream: bool, store: bool) -> bytes:
    """The same conversation as ``_body``, as a Responses API request."""
    return orjson.dumps({
        "model": model, "stream": stream, "store": store, "max_output_tokens": 64,
        "temperature": 0.2, "instructions": "You are a terse benchmark assistant.",
        "input": "Say hello to the gateway benchmark.",
    })


def _messages_body(model: str, stream: bool) -> bytes:
    """The same conversation as ``_body``, in Anthropic's Messages shape."""
    return orjson.dumps({
        "model": model, "stream": stream, "max_tokens": 64, "temperature": 0.2,
        "system": "You are a terse benchmark assistant.",
        "messages": [{"role": "user", "content": "Say hello to the gateway benchmark."}],
    })


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000.0


@dataclass(slots=True)
class CpuUse:
    mid: float | None
    upstream: float
    own: float
    machine: float = 0.0  # busy CPU seconds of the whole machine
    steal: float = 0.0

    def __add__(self, other: CpuUse) -> CpuUse:
        mid = None if self.mid is None or other.mid is None else self.mid + other.mid
        return CpuUse(mid, self.upstream + other.upstream, self.own + other.own,
                      self.machine + other.machine, self.steal + other.steal)

    @property
    def foreign(self) -> float:
        """CPU seconds used by processes that are not part of the bench."""
        return max(0.0, self.machine - (self.mid or 0.0) - self.upstream - self.own)


class Bench:
    def __init__(self, plan: Plan, targets: dict[str, Target], mid_pids: dict[str, int],
                 upstream_pid: int, cpu_of: Callable[[int], float] = cpu_seconds) -> None:
        """``cpu_of``: CPU seconds of a middle process (``tree_cpu_seconds`` for workers)."""
        self.plan = plan
        self.targets = targets
        self.mid_pids = mid_pids  # floor/proxy -> pid of the process in the middle
        self.upstream_pid = upstream_pid
        self._cpu_of = cpu_of

    def _snap(self, name: str) -> CpuUse:
        pid = self.mid_pids.get(name)
        machine, steal = system_busy()
        return CpuUse(self._cpu_of(pid) if pid else None, cpu_seconds(self.upstream_pid),
                    time.process_time(), machine, steal)

    async def measure(self, name: str,
                      run: Callable[[], Awaitable[Samples]]) -> tuple[Samples, CpuUse]:
        before = self._snap(name)
        samples = await run()
        after = self._snap(name)
        mid = (after.mid - before.mid) if after.mid is not None and before.mid is not None else None
        return samples, CpuUse(mid, after.upstream - before.upstream, after.own - before.own,
                             after.machine - before.machine, after.steal - before.steal)

    async def halves(
        self, name: str, cases: Sequence[tuple[str, Target, bytes | Callable[[], bytes],
                                            int | None]],
        concurrency: int, seconds: float,
    ) -> dict[str, tuple[Samples, CpuUse]]:
        """Each case (label, target, request or a function making each, chunks expected)
        under closed-loop load for ``seconds`` in all, in two halves in the order
        A B … B A (a drift in the machine's load falls on every case alike), merged."""
        measured: dict[str, tuple[Samples, CpuUse]] = {}
        for order in (cases, cases[::-1]):
            for label, target, raw, expect in order:
                s, cpu = await self.measure(name, lambda t=target, r=raw, e=expect: closed_loop(  # type: ignore[misc]
                    t, r, e, concurrency=concurrency, duration=seconds / 2))
                if label in measured:
                    s, cpu = measured[label][0].merge(s), measured[label][1] + cpu
                measured[label] = (s, cpu)
        return measured

    def raw(self, name: str, model: str, stream: bool) -> bytes:
        t = self.targets[name]
        return build_request(t.host, t.port, t.path, _body(model, stream), t.token)

    @staticmethod
    def summary(s: Samples, cpu: CpuUse) -> dict[str, Any]:
        elapsed = s.elapsed or 1e-9
        return {
            "ok": s.ok, "errors": s.error_count, "error_kinds": dict(s.errors),
            "malformed": s.malformed, "seconds": round(s.elapsed, 3), "rps": s.ok / elapsed,
            "p50_ms": _ms(pct(s.latencies, 50)), "p90_ms": _ms(pct(s.latencies, 90)),
            "p99_ms": _ms(pct(s.latencies, 99)), "max_ms": _ms(max(s.latencies, default=None)),
            "cpu_ms_per_request": (cpu.mid * 1000.0 / s.ok) if cpu.mid is not None and s.ok else None,
            "mid_busy": (cpu.mid / elapsed) if cpu.mid is not None else None,
            "core0_busy": (cpu.upstream + cpu.own) / elapsed,
            # other processes on the machine, in cores (0 on a quiet machine), and steal
            "foreign_cores": cpu.foreign / elapsed, "steal_cores": cpu.steal / elapsed,
        }

    # -- phases ---------------------------------------------------------------------------

    async def warmup(self, name: str) -> int:
        p = self.plan
        raw = self.raw(name, p.unary_model, False)
        s = await closed_loop(self.targets[name], raw, None,
                              concurrency=min(16, p.closed_concurrency), duration=p.warmup_seconds)
        raw = self.raw(name, p.stream_model, True)
        s2 = await closed_loop(self.targets[name], raw, p.stream_chunks,
                               concurrency=min(16, p.stream_concurrency), duration=p.warmup_seconds)
        return s.error_count + s2.error_count + s.malformed + s2.malformed

    async def closed(self, name: str) -> dict[str, Any]:
        p = self.plan
        raw = self.raw(name, p.unary_model, False)
        s, cpu = await self.measure(name, lambda: closed_loop(
            self.targets[name], raw, None, concurrency=p.closed_concurrency,
            duration=p.closed_seconds))
        return {"concurrency": p.closed_concurrency, **self.summary(s, cpu)}

    async def open(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        raw = self.raw(name, self.plan.unary_model, False)
        for rate, seconds in self.plan.open_rates:
            s, cpu = await self.measure(name, lambda r=rate, d=seconds: open_loop(  # type: ignore[misc]
                self.targets[name], raw, rate=r, duration=d))
            out[str(rate)] = {"rate": rate, **self.summary(s, cpu),
                              "lag_p50_ms": _ms(pct(s.lag, 50)), "lag_p99_ms": _ms(pct(s.lag, 99))}
        return out

    async def stream(self, name: str) -> dict[str, Any]:
        p = self.plan
        raw = self.raw(name, p.stream_model, True)
        s, cpu = await self.measure(name, lambda: closed_loop(
            self.targets[name], raw, p.stream_chunks, concurrency=p.stream_concurrency,
            duration=p.stream_seconds))
        summary = self.summary(s, cpu)
        summary.update({
            "concurrency": p.stream_concurrency, "chunks_per_stream": p.stream_chunks,
            "streams_per_s": summary.pop("rps"), "chunks": s.chunks,
            "chunks_per_s": s.chunks / (s.elapsed or 1e-9),
            "ttfc_p50_ms": _ms(pct(s.ttfc, 50)), "ttfc_p99_ms": _ms(pct(s.ttfc, 99)),
            "cpu_us_per_chunk": (cpu.mid * 1e6 / s.chunks) if cpu.mid is not None and s.chunks else None,
        })
        return summary

    async def memory(self, name: str) -> dict[str, Any]:
        p = self.plan
        pid = self.mid_pids[name]
        raw = self.raw(name, p.hold_model, True)
        before = rss_bytes(pid)
        trace: list[tuple[float, int]] = []
        finished = asyncio.Event()

        async def sample() -> None:
            while not finished.is_set():
                trace.append((time.perf_counter(), rss_bytes(pid)))
                try:
                    await asyncio.wait_for(finished.wait(), 0.2)
                except TimeoutError:
                    pass

        async def hold() -> Samples:
            try:
                return await hold_streams(self.targets[name], raw, p.hold_chunks,
                                          count=p.hold_streams)
            finally:
                finished.set()

        async with asyncio.TaskGroup() as tg:
            tg.create_task(sample())
            held = tg.create_task(self.measure(name, hold))
        s, cpu = held.result()
        opened = [(rss, sum(1 for a, b in s.intervals if a <= t < b)) for t, rss in trace]
        full = [rss for rss, n in opened if n >= p.hold_streams]
        summary = self.summary(s, cpu)
        summary.update({
            "streams": p.hold_streams, "chunks_per_stream": p.hold_chunks,
            "delay_ms": p.hold_delay_ms, "chunks": s.chunks,
            "streams_open": max((n for _, n in opened), default=0),
            "rss_mb_before": before / _MB,
            "rss_mb_peak": max((r for _, r in trace), default=0) / _MB,
            "rss_mb_all_open": (max(full) / _MB) if full else None,
        })
        return summary

    async def responses(self, name: str) -> dict[str, Any]:
        """``POST /v1/responses`` beside chat completions on the same gateway: CPU per
        request whole and streamed, with ``store`` on (written behind the answer) and off."""
        p = self.plan
        chat = self.targets[name]
        responses = replace(chat, path="/v1/responses")
        runs = (
            ("chat", chat, _body(p.unary_model, False), None),
            ("responses_store", responses, _responses_body(p.unary_model, False, True), None),
            ("responses_no_store", responses, _responses_body(p.unary_model, False, False),
             None),
            ("chat_stream", chat, _body(p.stream_model, True), p.stream_chunks),
            ("responses_stream_store", responses,
             _responses_body(p.stream_model, True, True), p.stream_chunks),
            ("responses_stream_no_store", responses,
             _responses_body(p.stream_model, True, False), p.stream_chunks),
        )
        out: dict[str, Any] = {}
        # whole runs, then streamed runs, each in two halves A B C … C B A (load drift on
        # a shared machine falls on every case alike, as in the messages phase)
        for group in (runs[:3], runs[3:]):
            cases = [(label, target,
                      build_request(target.host, target.port, target.path, body, target.token),
                      expect) for label, target, body, expect in group]
            measured = await self.halves(name, cases, p.closed_concurrency,
                                         p.responses_seconds)
            for label, (s, cpu) in measured.items():
                out[label] = self.summary(s, cpu)
        return out

    async def messages(self, name: str) -> dict[str, Any]:
        """CPU per request of ``/v1/messages`` translated (→ openai) and native (→ anthropic),
        streamed and not, beside ``/v1/chat/completions`` under the same load. Each case
        runs in two halves, in the order A B C … C B A, so a drift in the machine's load
        falls on every case alike."""
        p, t = self.plan, self.targets[name]
        out: dict[str, Any] = {"concurrency": p.messages_concurrency}
        for stream in (False, True):
            expect = p.stream_chunks if stream else None
            cases: list[tuple[str, Target, bytes | Callable[[], bytes], int | None]] = []
            for case, path, prefix in MESSAGES_CASES:
                model = prefix + (p.stream_model if stream else p.unary_model)
                body = (_messages_body if path == "/v1/messages" else _body)(model, stream)
                cases.append((case, t, build_request(t.host, t.port, path, body, t.token),
                              expect))
            measured = await self.halves(name, cases, p.messages_concurrency,
                                         p.messages_seconds)
            for case, (s, cpu) in measured.items():
                row = self.summary(s, cpu)
                if stream:
                    row["chunks"] = s.chunks
                    row["cpu_us_per_chunk"] = (cpu.mid * 1e6 / s.chunks
                                               if cpu.mid is not None and s.chunks else None)
                out[f"{case}_{'stream' if stream else 'unary'}"] = row
        return out

    async def cache(self, name: str) -> dict[str, Any]:
        return await cache_phase(self, name)

    async def run(self, phases: tuple[str, ...], log: Callable[[str], None]) -> dict[str, Any]:
        results: dict[str, dict[str, Any]] = {n: {} for n in self.targets}
        for name in self.targets:
            log(f"warm-up: {name}")
            results[name]["warmup_errors"] = await self.warmup(name)
        for phase in phases:
            for name in self.targets:
                if phase in ("memory", "messages") and name not in self.mid_pids:
                    continue
                if phase in ("responses", "cache") and name != "proxy":
                    continue  # only the gateway speaks the Responses API and caches
                if phase == "messages" and name != "proxy":
                    continue  # only the gateway speaks Messages
                log(f"{phase}: {name}")
                results[name][phase] = await getattr(self, phase)(name)
        for res in results.values():
            parts = [res[ph] for ph in ("closed", "stream", "memory") if ph in res]
            parts += list(res.get("open", {}).values())
            parts += list(res.get("responses", {}).values())
            parts += [v for v in res.get("messages", {}).values() if isinstance(v, dict)]
            parts += [v for v in res.get("cache", {}).values() if isinstance(v, dict)]
            res["errors"] = res["warmup_errors"] + sum(x["errors"] for x in parts)
            res["malformed"] = sum(x["malformed"] for x in parts)
        return results
