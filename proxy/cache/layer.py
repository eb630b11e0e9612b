"""The exact response cache on the request path: policy, key, single flight, replay.

Off unless the route's mappings set ``config.cache_ttl`` or the request sends
``x-proxy-cache-ttl: <seconds>`` (``0`` turns it off for that request).
``Cache-Control: no-cache`` skips the lookup (``bypass``), ``no-store`` skips storing.
The key hashes the client's scope (its tenant, else the key itself, so tenants never
share), the endpoint, the alias and the request body with sorted keys, without
``stream``, ``stream_options`` and ``user``.

A miss leads a *flight* for its key: identical requests arriving meanwhile wait for it
(within their own deadline) and are then served from what it stored, so the upstream is
called once. Only complete, successful, unresumed answers are stored. A hit goes out
through the ingress codec like a fresh answer, costs nothing (``trace.cache == "hit"``:
no tokens charged, no spend) and is audited with the reason ``cache_hit``. A shared cache
that fails is bypassed, never an error.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Any, Protocol

import orjson

from supervisors.errors import InvalidRequest
from supervisors.messages import Chunk, Result

from ..router import Plan, Trace
from ..routing import Route
from .backend import Backend, CacheUnavailable
from .entry import Entry

__all__ = ["CacheStep", "ResponseCache", "Source"]

TTL_HEADER = "x-proxy-cache-ttl"
MAX_TTL = 31_536_000
_IGNORED = ("stream", "stream_options", "user")
_NO_DIRECTIVES: frozenset[str] = frozenset()


class Source(Protocol):
    """What answers a request: the router, or the cache in front of it."""

    async def unary(self, plan: Plan, route: Route, request_id: str, trace: Trace) -> Result: ...

    def stream(self, plan: Plan, route: Route, request_id: str,
               trace: Trace) -> AsyncGenerator[list[Chunk], None]: ...


class ResponseCache:
    def __init__(self, backend: Backend, on_result: Callable[[str], None]) -> None:
        self.backend = backend
        self._on_result = on_result
        #: keys whose answer a request is fetching → the future its followers wait on
        #: (made when the first follower arrives: a flight nobody joins needs none)
        self._flights: dict[str, asyncio.Future[None] | None] = {}
        self._get_nowait = getattr(backend, "get_nowait", None)
        self._set_nowait = getattr(backend, "set_nowait", None)
        #: x-proxy-cache-ttl header value → seconds
        self._ttls: dict[str, int] = {}

    async def begin(self, headers: Mapping[str, str], scope: str, endpoint: str, alias: str,
                    body: dict[str, Any], stream: bool, route: Route,
                    trace: Trace) -> CacheStep | None:
        """The cache's part in one request, or ``None`` when the cache is off for it."""
        raw_ttl = headers.get(TTL_HEADER)
        if raw_ttl is None:
            ttl = route.cache_ttl
            if not ttl:
                return None
        else:
            known = self._ttls.get(raw_ttl)
            if known is None:
                known = _ttl(raw_ttl)
                if len(self._ttls) < 64:  # the few values clients send, parsed once
                    self._ttls[raw_ttl] = known
            if known <= 0:
                return None
            ttl = known
        raw_control = headers.get("Cache-Control")
        control = _directives(raw_control) if raw_control else _NO_DIRECTIVES
        step = CacheStep(self, cache_key(scope, endpoint, alias, body), ttl,
                         "no-store" not in control, stream)
        if "no-cache" in control:
            trace.cache = "bypass"
        elif not step.lookup_now(trace):
            await step.lookup(route.budget, trace)
        result = trace.cache or "bypass"
        self._on_result(result)
        if result == "hit":
            trace.reasons.append("cache_hit")
        return step


def cache_key(scope: str, endpoint: str, alias: str, body: dict[str, Any]) -> str:
    canonical = body.copy()  # a shallow copy and three deletions: cheaper than a filter
    for name in _IGNORED:
        canonical.pop(name, None)
    material = orjson.dumps([scope, endpoint, alias, canonical], option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(material, digest_size=24).hexdigest()


def _ttl(raw: str) -> int:
    value = raw.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 9) or int(value) > MAX_TTL:
        raise InvalidRequest(f"{TTL_HEADER} must be a whole number of seconds from 0 to "
                             f"{MAX_TTL}", param=TTL_HEADER)
    return int(value)


def _directives(raw: str) -> frozenset[str]:
    return frozenset(part.split("=", 1)[0].strip().lower() for part in raw.split(","))


class CacheStep:
    """One request's use of the cache: its lookup (with the entry on a hit), its flight
    when it leads one, and the source that answers it."""

    __slots__ = ("_cache", "_leading", "entry", "key", "store", "stream", "ttl")

    def __init__(self, cache: ResponseCache, key: str, ttl: int, store: bool,
                 stream: bool) -> None:
        self._cache = cache
        self.key = key
        self.ttl = ttl
        self.store = store
        self.stream = stream
        self.entry: Entry | None = None
        self._leading = False

    def lookup_now(self, trace: Trace) -> bool:
        """The lookup without waiting, when it needs none (an in-process backend and no
        flight for this key): False when :meth:`lookup` has to do it."""
        flights = self._cache._flights
        get_nowait = self._cache._get_nowait
        if get_nowait is None or self.key in flights:
            return False
        self._found(get_nowait(self.key), trace, flights, waited=False)
        return True

    async def lookup(self, within: float, trace: Trace) -> None:
        flights = self._cache._flights
        waited = False
        while True:
            if self.key in flights and not waited:
                waited = True
                flight = flights[self.key]
                if flight is None:
                    flight = flights[self.key] = asyncio.get_running_loop().create_future()
                try:
                    await asyncio.wait_for(asyncio.shield(flight), within)
                except TimeoutError:
                    pass
            try:
                raw = await self._cache.backend.get(self.key)
            except CacheUnavailable:
                trace.cache, self.store = "bypass", False
                return
            if self._found(raw, trace, flights, waited):
                return

    def _found(self, raw: bytes | None, trace: Trace,
               flights: dict[str, asyncio.Future[None] | None], waited: bool) -> bool:
        """Take a looked-up value: a hit, or a miss that leads a flight for its key or
        that need not wait for one. False: a flight started meanwhile, wait for it."""
        entry = Entry.decode(raw) if raw is not None else None
        if entry is not None and self._fits(entry):
            self.entry, trace.cache = entry, "hit"
            return True
        trace.cache = "miss"
        if not self.store or waited:
            return True
        if self.key in flights:
            return False
        flights[self.key] = None
        self._leading = True
        return True

    def _fits(self, entry: Entry) -> bool:
        """Can this entry answer this request? Chat and text completions turn from whole
        into a stream and back; other operations answer in the mode they were stored."""
        if entry.op in ("chat", "completions"):
            return True
        return entry.chunks is not None if self.stream else entry.obj is not None

    def source(self, router: Source) -> Source:
        if self.entry is not None:
            return _Replay(self.entry)
        return _Recording(router, self) if self.store else router

    def release(self) -> None:
        """Wake the requests waiting for this one's answer (stored or not)."""
        if self._leading:
            self._leading = False
            flight = self._cache._flights.pop(self.key, None)
            if flight is not None and not flight.done():
                flight.set_result(None)

    def put(self, value: bytes) -> Awaitable[None] | None:
        """Store an encoded entry: at once in process, else by awaiting what this returns."""
        set_nowait = self._cache._set_nowait
        if set_nowait is None:
            return self._put(value)
        set_nowait(self.key, value, self.ttl)
        return None

    async def _put(self, value: bytes) -> None:
        try:
            await self._cache.backend.set(self.key, value, self.ttl)
        except CacheUnavailable:
            pass


class _Replay:
    """A hit: the stored answer, in the terms of the hop that once served it."""

    __slots__ = ("_entry",)

    def __init__(self, entry: Entry) -> None:
        self._entry = entry

    def _serve(self, trace: Trace) -> None:
        entry = self._entry
        trace.op, trace.usage = entry.op, entry.usage
        model = (entry.obj or (entry.chunks[0] if entry.chunks else {})).get("model")
        trace.model = model if isinstance(model, str) else None

    async def unary(self, plan: Plan, route: Route, request_id: str, trace: Trace) -> Result:
        self._serve(trace)
        result = self._entry.result()
        assert result is not None
        return result

    async def stream(self, plan: Plan, route: Route, request_id: str,
                     trace: Trace) -> AsyncGenerator[list[Chunk], None]:
        self._serve(trace)
        batches = self._entry.batches(_asks_usage(plan, route, self._entry))
        assert batches is not None
        for batch in batches:
            yield batch


def _asks_usage(plan: Plan, route: Route, entry: Entry) -> bool:
    """Would this request's call, to a hop of the entry's operation, carry a usage chunk
    (``stream_options.include_usage``)? Then the replay carries one too."""
    for hop in route.hops:
        call = plan(hop, None)
        if call.op == entry.op:
            options = call.body.get("stream_options")
            return isinstance(options, dict) and bool(options.get("include_usage"))
    return False


class _Recording:
    """A miss: the router answers, and a complete, unresumed answer is stored."""

    __slots__ = ("_router", "_step")

    def __init__(self, router: Source, step: CacheStep) -> None:
        self._router = router
        self._step = step

    async def unary(self, plan: Plan, route: Route, request_id: str, trace: Trace) -> Result:
        result = await self._router.unary(plan, route, request_id, trace)
        if not trace.resumes and trace.op is not None:
            pending = self._step.put(Entry.encode_whole(trace.op, result))
            if pending is not None:
                await pending
        return result

    async def stream(self, plan: Plan, route: Route, request_id: str,
                     trace: Trace) -> AsyncGenerator[list[Chunk], None]:
        limit = self._step._cache.backend.max_entry_bytes
        kept: list[list[Chunk]] | None = []
        size = 0
        async with aclosing(self._router.stream(plan, route, request_id, trace)) as relay:
            async for batch in relay:
                if kept is not None:
                    size += sum(len(c.raw) if c.raw is not None else 256 for c in batch)
                    if size <= limit:
                        kept.append(batch)
                    else:
                        kept = None  # too large to keep: served, not stored
                yield batch
        if kept is not None and not trace.resumes and trace.op is not None:
            pending = self._step.put(Entry.stream(trace.op, kept, trace.usage).encode())
            if pending is not None:
                await pending
