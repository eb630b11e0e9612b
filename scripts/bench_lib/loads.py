"""Load shapes: closed loop, open loop (latency from the scheduled send time), concurrent
streams, and a burst of long-lived streams held open together."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from .client import Conn, Outcome

__all__ = ["Samples", "Target", "closed_loop", "hold_streams", "open_loop"]

_CONNECT_BATCH = 100


@dataclass(frozen=True, slots=True)
class Target:
    name: str  # direct | floor | proxy
    host: str
    port: int
    path: str = "/v1/chat/completions"
    token: str | None = None


@dataclass(slots=True)
class Samples:
    latencies: list[float] = field(default_factory=list)  # seconds
    ttfc: list[float] = field(default_factory=list)  # seconds, streams only
    lag: list[float] = field(default_factory=list)  # open loop: actual send - scheduled
    intervals: list[tuple[float, float]] = field(default_factory=list)  # hold_streams
    ok: int = 0
    sent: int = 0  # requests written to a connection (answered or not)
    errors: Counter[str] = field(default_factory=Counter)
    chunks: int = 0
    malformed: int = 0
    elapsed: float = 0.0

    def record(self, out: Outcome, sent_at: float) -> None:
        self.sent += 1
        self.chunks += out.chunks
        self.malformed += out.malformed
        if out.first_chunk_at is not None:
            self.ttfc.append(out.first_chunk_at - sent_at)
        if out.ok:
            self.ok += 1
            self.latencies.append(out.done_at - sent_at)
        else:
            self.errors[(out.error or "error")[:120]] += 1

    def merge(self, other: Samples) -> Samples:
        """Both runs as one (run one after the other: elapsed times add up)."""
        return Samples(self.latencies + other.latencies, self.ttfc + other.ttfc,
                       self.lag + other.lag, self.intervals + other.intervals,
                       self.ok + other.ok, self.sent + other.sent, self.errors + other.errors,
                       self.chunks + other.chunks, self.malformed + other.malformed,
                       self.elapsed + other.elapsed)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


async def _open(target: Target, samples: Samples) -> Conn | None:
    try:
        return await asyncio.wait_for(Conn.open(target.host, target.port), 10.0)
    except (OSError, TimeoutError) as exc:
        samples.errors[f"connect: {type(exc).__name__}"] += 1
        return None


async def _open_many(target: Target, count: int, samples: Samples) -> list[Conn]:
    conns: list[Conn] = []
    for start in range(0, count, _CONNECT_BATCH):
        batch = [_open(target, samples) for _ in range(min(_CONNECT_BATCH, count - start))]
        conns.extend(c for c in await asyncio.gather(*batch) if c is not None)
    return conns


async def closed_loop(target: Target, raw: bytes | Callable[[], bytes], expect: int | None, *,
                      concurrency: int,
                      duration: float, per_request_s: float = 30.0,
                      requests: int | None = None) -> Samples:
    """``concurrency`` connections, each sending its next request as soon as the last one
    is answered, for ``duration`` seconds, or until ``requests`` have been sent (then
    ``duration`` is only the cap). ``raw`` may be a function making each request anew."""
    samples = Samples()
    conns = await _open_many(target, concurrency, samples)
    start = time.perf_counter()
    stop_at = start + duration
    budget = [requests if requests is not None else -1]  # requests left to start; -1: no limit

    def more() -> bool:
        if budget[0] == 0 or time.perf_counter() >= stop_at:
            return False
        if budget[0] > 0:
            budget[0] -= 1
        return True

    async def worker(conn: Conn | None) -> None:
        while more():
            if conn is None or conn.closed:
                conn = await _open(target, samples)
                if conn is None:
                    await asyncio.sleep(0.05)
                    continue
            request = raw() if callable(raw) else raw
            sent = time.perf_counter()
            samples.record(await conn.request(request, expect, per_request_s), sent)
        if conn is not None:
            conn.close()

    async with asyncio.TaskGroup() as tg:
        for conn in conns:
            tg.create_task(worker(conn))
    samples.elapsed = time.perf_counter() - start
    return samples


async def open_loop(target: Target, raw: bytes, *, rate: float, duration: float,
                    per_request_s: float = 30.0, warm: int = 16) -> Samples:
    """Send at a constant ``rate`` whatever the answers do; a request's latency runs from
    its *scheduled* send time, so a stall is charged to every request it delays."""
    samples = Samples()
    idle = await _open_many(target, warm, samples)
    total = max(1, int(rate * duration))
    start = time.perf_counter() + 0.05

    async def one(scheduled: float) -> None:
        conn = idle.pop() if idle else await _open(target, samples)
        if conn is None:
            return
        samples.lag.append(time.perf_counter() - scheduled)
        samples.record(await conn.request(raw, None, per_request_s), scheduled)
        if not conn.closed:
            idle.append(conn)

    async with asyncio.TaskGroup() as tg:
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tg.create_task(one(scheduled))
    samples.elapsed = time.perf_counter() - start
    for conn in idle:
        conn.close()
    return samples


async def hold_streams(target: Target, raw: bytes, expect: int, *, count: int,
                       per_request_s: float = 60.0) -> Samples:
    """Open ``count`` connections, then start one (slow) stream on each at once and wait
    for all of them. ``Samples.intervals`` holds each stream's (sent, done) times."""
    samples = Samples()
    conns = await _open_many(target, count, samples)
    start = time.perf_counter()

    async def one(conn: Conn) -> None:
        sent = time.perf_counter()
        out = await conn.request(raw, expect, per_request_s)
        samples.record(out, sent)
        samples.intervals.append((sent, out.done_at or time.perf_counter()))
        conn.close()

    async with asyncio.TaskGroup() as tg:
        for conn in conns:
            tg.create_task(one(conn))
    samples.elapsed = time.perf_counter() - start
    return samples
