"""The routing table: model alias → ordered chain of (provider, upstream model, defaults).

Built from a configuration snapshot and swapped atomically on every change; the hot path
only reads it. Mappings of one alias that share an ``order_index`` form a group: each
request takes the group's members in an order drawn by :meth:`Group.order` (weighted, the
less busy of two), then the next ``order_index``. Aliases without groups keep their
precomputed chain, so the hot path pays nothing for the feature.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from supervisors.errors import InvalidRequest, NotFound, PermissionDenied
from supervisors.spec import ProviderSpec

from .spend.prices import Price, parse_pricing

__all__ = ["Group", "Hop", "Load", "Route", "RoutingTable"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Hop:
    provider: str
    model: str
    #: the provider's type: an ingress goes native where the type speaks its API
    provider_type: str = ""
    #: request parameters applied when the client leaves them out
    defaults: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    #: provider-side behaviour overridable per mapping (stream_resume, supports_prefill)
    stream_resume: bool = True
    supports_prefill: bool = False
    timeout: float = 600.0
    max_retries: int = 2
    #: a Retry-After up to this is waited out on this provider; a longer one moves on
    max_retry_wait: float = 5.0
    #: share of its group's requests (``config.weight``)
    weight: float = field(default=1.0, compare=False)
    #: start the next candidate too when this hop sent no content within this time
    hedge_after: float | None = field(default=None, compare=False)
    #: seconds a complete answer is kept in the response cache (``config.cache_ttl``)
    cache_ttl: int | None = field(default=None, compare=False)
    mapping_id: int | None = field(default=None, compare=False)
    order_index: int = field(default=0, compare=False)
    #: the mapping's ``config.pricing`` (None: the built-in price table decides)
    pricing: Price | None = field(default=None, compare=False)


#: a member's calls in flight, or ``None`` while its circuit is open
Load = Callable[[Hop], int | None]


class Group:
    """Members of one alias sharing an ``order_index``, with the state of their draw.

    The first draw of each request comes from a randomly started golden-ratio sequence
    rather than independent random numbers: every value is uniform, but the shares of a
    run of requests match the weights within a fraction of a percent (independent draws
    stray by several percent over a few thousand requests). Other draws are random.
    """

    __slots__ = ("_next", "members")

    def __init__(self, members: tuple[Hop, ...]) -> None:
        self.members = members
        self._next = random.random()

    def first_draw(self) -> float:
        u = self._next
        self._next = (u + _GOLDEN) % 1.0
        return u

    def order(self, load: Load, rng: random.Random | None = None) -> list[Hop]:
        """The order in which one request tries the members.

        Two members are drawn at random in proportion to their weight (without
        replacement) and the one with fewer calls in flight goes first, the first drawn
        on a tie; so weights hold when members are equally loaded and a busy member gets
        less. The rest follow the same way. Members whose circuit is open come last, in
        configuration order (reached only when every other member failed).
        """
        draw = (rng or random).random
        members = self.members
        loads = [load(m) for m in members]
        pool = [(m, n) for m, n in zip(members, loads, strict=True) if n is not None]
        out: list[Hop] = []
        u = self.first_draw() if rng is None else draw()
        while pool:
            if len(pool) == 1:
                out.append(pool.pop()[0])
                break
            a = pool.pop(_pick(pool, u))
            second = _pick(pool, draw())
            b = pool[second]
            if b[1] < a[1]:
                pool[second], a = a, b
            out.append(a[0])
            u = draw()
        out.extend(m for m, n in zip(members, loads, strict=True) if n is None)
        return out


_GOLDEN = 0.6180339887498949


def _pick(pool: Sequence[tuple[Hop, int | None]], u: float) -> int:
    """The index drawn from ``pool`` in proportion to weight, for ``u`` uniform in [0, 1)."""
    point = u * sum(m.weight for m, _ in pool)
    for i, (member, _) in enumerate(pool):
        point -= member.weight
        if point < 0:
            return i
    return len(pool) - 1


@dataclass(frozen=True, slots=True)
class Route:
    alias: str
    hops: tuple[Hop, ...]
    #: the chain cut into groups (members sharing an ``order_index``); ``None`` when every
    #: group has one member, so that :meth:`ordered` returns the route itself
    groups: tuple[Group, ...] | None = None
    #: seconds the whole request may take: the longest hop timeout
    budget: float = field(init=False)
    #: the longest ``cache_ttl`` of the chain's mappings (0: the cache is off by default)
    cache_ttl: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget", max((h.timeout for h in self.hops), default=600.0))
        object.__setattr__(self, "cache_ttl", max((h.cache_ttl or 0 for h in self.hops),
                                                  default=0))

    def ordered(self, load: Load) -> Route:
        """This request's chain: each group's members in the order :meth:`Group.order`
        draws, groups by ``order_index``. Without groups, the route itself."""
        if self.groups is None:
            return self
        hops: list[Hop] = []
        for group in self.groups:
            if len(group.members) == 1:
                hops.append(group.members[0])
            else:
                hops.extend(group.order(load))
        return Route(self.alias, tuple(hops))


#: mapping config keys the gateway itself reads (resume, spend, groups, hedging, cache);
#: every other key is a request default. ``proxy.api.config_fields.MAPPING_KEYS`` holds
#: their validators, one per name here.
GATEWAY_MAPPING_KEYS = frozenset({
    "stream_resume", "supports_prefill", "pricing", "weight", "hedge_after_ms", "cache_ttl",
})


@dataclass(frozen=True, slots=True)
class _MappingEntry:
    alias: str
    provider_id: int
    model: str
    order: int
    mapping_id: int
    is_default: bool
    config: Mapping[str, Any]


class RoutingTable:
    def __init__(self, providers: Iterable[ProviderSpec], mappings: Iterable[Any]) -> None:
        self.providers: dict[str, ProviderSpec] = {p.name: p for p in providers if p.enabled}
        by_id = {p.id: p for p in self.providers.values()}
        entries = sorted(
            (
                _MappingEntry(
                    m.alias_name, m.provider_id, m.provider_model_name, m.order_index, m.id,
                    m.is_default, MappingProxyType(dict(m.config or {})),
                )
                for m in mappings
                if m.provider_id in by_id
            ),
            key=lambda e: (e.alias, e.order, e.mapping_id),
        )
        aliases: dict[str, list[Hop]] = {}
        default: list[tuple[int, int, Hop]] = []
        for e in entries:
            hop = _hop(by_id[e.provider_id], e.model, e.config, e.mapping_id, e.order)
            aliases.setdefault(e.alias, []).append(hop)
            if e.is_default:
                default.append((e.order, e.mapping_id, hop))
        self.aliases: dict[str, Route] = {a: _route(a, h) for a, h in aliases.items()}
        self.default: Route | None = (
            _route("default", [h for _, _, h in sorted(default, key=lambda t: t[:2])])
            if default
            else None
        )

    def resolve(
        self, model: str, allowed: frozenset[str] | None, fallbacks: Any = None
    ) -> Route:
        """The chain for ``model`` (+ the request's ``fallbacks``), or 403/404."""
        route = self._resolve_one(model, allowed)
        if fallbacks is None:
            return route
        if not isinstance(fallbacks, list) or not all(isinstance(f, str) for f in fallbacks):
            raise InvalidRequest("fallbacks must be a list of model names", param="fallbacks")
        hops = list(route.hops)
        groups = list(_groups(route))
        for name in fallbacks[:8]:
            for group in _groups(self._resolve_one(name, allowed)):
                fresh = tuple(h for h in group.members if h not in hops)
                if fresh:
                    hops.extend(fresh)
                    groups.append(group if len(fresh) == len(group.members) else Group(fresh))
        grouped = any(len(g.members) > 1 for g in groups)
        return Route(route.alias, tuple(hops), tuple(groups) if grouped else None)

    def _resolve_one(self, model: str, allowed: frozenset[str] | None) -> Route:
        if allowed is not None and model not in allowed:
            raise PermissionDenied(
                f"this API key is not allowed to use model {model!r}",
                param="model",
                code="model_not_allowed",
            )
        route = self.aliases.get(model)
        if route is not None:
            return route
        provider_name, sep, upstream_model = model.partition("/")
        if sep and upstream_model and provider_name in self.providers:
            spec = self.providers[provider_name]
            return Route(model, (_hop(spec, upstream_model, _EMPTY),))
        if self.default is not None:
            return self.default
        raise NotFound(
            f"The model {model!r} does not exist or is not served by this proxy",
            param="model",
            code="model_not_found",
        )

    def model_ids(self, allowed: frozenset[str] | None) -> list[str]:
        names = sorted(self.aliases)
        return names if allowed is None else [n for n in names if n in allowed]


def _groups(route: Route) -> tuple[Group, ...]:
    return route.groups if route.groups is not None else tuple(Group((h,)) for h in route.hops)


def _route(alias: str, hops: list[Hop]) -> Route:
    """A route over ``hops`` (sorted by ``order_index``), grouped when members share one."""
    groups: list[list[Hop]] = []
    for hop in hops:
        if groups and groups[-1][0].order_index == hop.order_index:
            groups[-1].append(hop)
        else:
            groups.append([hop])
    grouped = any(len(g) > 1 for g in groups)
    return Route(alias, tuple(hops), tuple(Group(tuple(g)) for g in groups) if grouped else None)


def _number(config: Mapping[str, Any], name: str) -> float | None:
    """A positive number from a mapping's config (the admin API validates it; anything
    else stored earlier is ignored rather than breaking the routing table)."""
    value = config.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def _hop(spec: ProviderSpec, model: str, config: Mapping[str, Any],
         mapping_id: int | None = None, order_index: int = 0) -> Hop:
    defaults = {k: v for k, v in config.items() if k not in GATEWAY_MAPPING_KEYS}
    hedge_ms = _number(config, "hedge_after_ms")
    cache_ttl = _number(config, "cache_ttl")
    return Hop(
        provider=spec.name,
        model=model,
        provider_type=spec.type,
        defaults=MappingProxyType(defaults),
        stream_resume=bool(config.get("stream_resume", spec.config.stream_resume)),
        supports_prefill=bool(config.get("supports_prefill", spec.config.supports_prefill)),
        timeout=spec.config.timeout,
        max_retries=spec.config.max_retries,
        weight=_number(config, "weight") or 1.0,
        hedge_after=hedge_ms / 1000.0 if hedge_ms else None,
        cache_ttl=int(cache_ttl) if cache_ttl else None,
        mapping_id=mapping_id,
        order_index=order_index,
        max_retry_wait=spec.config.max_retry_wait,
        pricing=_pricing(config.get("pricing")),
    )


def _pricing(raw: Any) -> Price | None:
    """A mapping's pricing (validated by the admin API; a bad stored one is ignored)."""
    if raw is None:
        return None
    try:
        return parse_pricing(raw)
    except ValueError:
        return None
