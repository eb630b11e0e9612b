"""The routing table: model alias → ordered chain of (provider, upstream model, defaults).

Built from a configuration snapshot and swapped atomically on every change; the hot path
only reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from supervisors.errors import InvalidRequest, NotFound, PermissionDenied
from supervisors.spec import ProviderSpec

__all__ = ["Hop", "Route", "RoutingTable"]

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


@dataclass(frozen=True, slots=True)
class Route:
    alias: str
    hops: tuple[Hop, ...]
    #: seconds the whole request may take: the longest hop timeout
    budget: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget", max((h.timeout for h in self.hops), default=600.0))


_BEHAVIOUR_KEYS = frozenset({"stream_resume", "supports_prefill"})


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
            hop = _hop(by_id[e.provider_id], e.model, e.config)
            aliases.setdefault(e.alias, []).append(hop)
            if e.is_default:
                default.append((e.order, e.mapping_id, hop))
        self.aliases: dict[str, Route] = {a: Route(a, tuple(h)) for a, h in aliases.items()}
        self.default: Route | None = (
            Route("default", tuple(h for _, _, h in sorted(default, key=lambda t: t[:2])))
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
        for name in fallbacks[:8]:
            for hop in self._resolve_one(name, allowed).hops:
                if hop not in hops:
                    hops.append(hop)
        return Route(route.alias, tuple(hops))

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


def _hop(spec: ProviderSpec, model: str, config: Mapping[str, Any]) -> Hop:
    defaults = {k: v for k, v in config.items() if k not in _BEHAVIOUR_KEYS}
    return Hop(
        provider=spec.name,
        model=model,
        provider_type=spec.type,
        defaults=MappingProxyType(defaults),
        stream_resume=bool(config.get("stream_resume", spec.config.stream_resume)),
        supports_prefill=bool(config.get("supports_prefill", spec.config.supports_prefill)),
        timeout=spec.config.timeout,
        max_retries=spec.config.max_retries,
    )
