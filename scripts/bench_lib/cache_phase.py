"""The response-cache phase (proxy only): what a hit costs, whole and streamed, and what
an enabled cache adds to a request it cannot answer.

Runs, each a closed loop of ``cache_seconds`` at ``closed_concurrency``:

* ``off`` / ``miss``: every request different (a counter in the prompt), without and with
  ``x-proxy-cache-ttl`` — so ``miss`` pays the key, the lookup and the store on top of the
  normal path, and ``miss_added_cpu_ms`` is that price;
* ``hit`` / ``stream_hit``: one request repeated with the cache on (primed first): every
  answer comes from the in-process cache, whole and as a stream of ``stream_chunks``;
  ``stream_off`` is the same stream with the cache off, for comparison.

Whole runs and streamed runs each go in two halves, A B C … C B A (a drift in the
machine's load falls on every run alike).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from .client import build_request
from .loads import closed_loop

if TYPE_CHECKING:
    from .phases import Bench

__all__ = ["cache_phase"]

_TTL = b"x-proxy-cache-ttl: 300\r\n"


def _with_ttl(raw: bytes) -> bytes:
    """The request with the cache turned on by its header."""
    head, sep, rest = raw.partition(b"\r\n")
    return head + sep + _TTL + rest


def _body(model: str, stream: bool, prompt: str) -> bytes:
    return orjson.dumps({
        "model": model, "stream": stream, "max_tokens": 64, "temperature": 0.2,
        "messages": [{"role": "system", "content": "You are a terse benchmark assistant."},
                     {"role": "user", "content": prompt}],
    })


async def cache_phase(bench: Bench, name: str) -> dict[str, Any]:
    p = bench.plan
    target = bench.targets[name]
    counter = itertools.count()

    def raw(model: str, stream: bool, prompt: str, cached: bool) -> bytes:
        built = build_request(target.host, target.port, target.path,
                              _body(model, stream, prompt), target.token)
        return _with_ttl(built) if cached else built

    def unique(cached: bool) -> Callable[[], bytes]:
        return lambda: raw(p.unary_model, False, f"question {next(counter)}", cached)

    hit = raw(p.unary_model, False, "Say hello to the cache.", True)
    stream_hit = raw(p.stream_model, True, "Say hello to the cache.", True)
    for primer, expect in ((hit, None), (stream_hit, p.stream_chunks)):
        await closed_loop(target, primer, expect, concurrency=1, duration=5.0, requests=1)
    runs: tuple[tuple[str, bytes | Callable[[], bytes], int | None], ...] = (
        ("off", unique(False), None),
        ("miss", unique(True), None),
        ("hit", hit, None),
        ("stream_off", raw(p.stream_model, True, "Say hello to the cache.", False),
         p.stream_chunks),
        ("stream_hit", stream_hit, p.stream_chunks),
    )
    out: dict[str, Any] = {}
    # each group in two halves A B … B A: a drift in the machine's load falls on both alike
    for group in (runs[:3], runs[3:]):
        measured = await bench.halves(
            name, [(label, target, request, expect) for label, request, expect in group],
            p.closed_concurrency, p.cache_seconds)
        for label, (s, cpu) in measured.items():
            out[label] = bench.summary(s, cpu)
    off, miss = out["off"]["cpu_ms_per_request"], out["miss"]["cpu_ms_per_request"]
    out["miss_added_cpu_ms"] = (miss - off) if off is not None and miss is not None else None
    return out
