"""Prices per model: a mapping's ``config.pricing`` first, else the built-in table, else none.

The built-in table is the ``genai-prices`` package (pydantic/genai-prices), which ships
its data inside the wheel (no network at run time; its optional auto-updater is not used).
Its data moves with the package version: upgrading the package (``pip install -U
genai-prices``, then restart) updates the prices. Lookups by provider type: ``openai``
and ``anthropic`` hops ask that provider's table first, then any provider whose model
pattern matches; other types (``custom``, ``mock``) match by model name; ``ollama`` is
local and never priced from the table.

Prices are held as integer pico-dollars (1e-12 USD) per token — exact for any price with
up to six decimals per million tokens — with tiers (a higher rate once a request's input
passes a threshold, e.g. Anthropic's long-context prices). A lookup costs ~150 µs in the
package, so results are cached per (provider type, model); the cache lives in the
``PriceTable`` owned by the app, never in a module global.

The package's table costs ~14 MB of memory (pydantic and httpx come with it) and ~0.7 s
to load, so it is loaded only when a chain has a hop without its mapping's pricing:
in a thread at start for the configured chains, or when a request names such a chain
(``prepare``; a budgeted request waits for it, ``ready_for``). A deployment whose
mappings all carry ``config.pricing`` never loads it. A lookup that finds it not loaded
yet (a request answered within the load's first second) loads it on the spot.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

__all__ = ["PRICING_FIELDS", "Price", "PriceTable", "Rate", "parse_pricing", "per_mtok"]

log = logging.getLogger("proxy.spend")

#: (input tokens above which the rate applies, pico-dollars per token), first entry at 0
Rate = tuple[tuple[int, int], ...]

PRICING_FIELDS = ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok",
                  "cache_write_per_mtok")
#: optional fields, and the required one each defaults to
_DEFAULTS_TO = {"cached_input_per_mtok": "input_per_mtok",
                "cache_write_per_mtok": "input_per_mtok"}
_PICO_PER_MTOK = Decimal(1_000_000)  # USD per million tokens -> pico-USD per token
_MAX_PRICE = Decimal(1_000_000)  # USD per million tokens; anything above is a typo
_TABLE_PROVIDERS = {"openai": "openai", "anthropic": "anthropic"}
_UNPRICED_TYPES = frozenset({"ollama"})
_NO_TABLE = object()


@dataclass(frozen=True, slots=True)
class Price:
    input: Rate
    output: Rate
    cached_input: Rate
    cache_write: Rate
    #: "mapping" (config.pricing) or "builtin" (genai-prices)
    source: str
    context_window: int | None = None
    #: the highest input and output rates of every tier (the worst case)
    highest_input: int = field(init=False, compare=False)
    highest_output: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "highest_input", max(p for _, p in self.input))
        object.__setattr__(self, "highest_output", max(p for _, p in self.output))

    def describe(self) -> dict[str, Any]:
        """USD per million tokens (base rates; tiers listed when there are any)."""
        out: dict[str, Any] = {
            "source": self.source,
            "input_per_mtok": per_mtok(self.input[0][1]),
            "output_per_mtok": per_mtok(self.output[0][1]),
            "cached_input_per_mtok": per_mtok(self.cached_input[0][1]),
            "cache_write_per_mtok": per_mtok(self.cache_write[0][1]),
        }
        tiers = [
            {"above_input_tokens": start, "input_per_mtok": per_mtok(rate_at(self.input, start + 1)),
             "output_per_mtok": per_mtok(rate_at(self.output, start + 1))}
            for start, _ in self.input[1:]
        ]
        if tiers:
            out["tiers"] = tiers
        if self.context_window:
            out["context_window"] = self.context_window
        return out


def rate_at(rate: Rate, input_tokens: int) -> int:
    """The rate that applies to a request with ``input_tokens`` of input."""
    price = rate[0][1]
    for start, value in rate[1:]:
        if input_tokens > start:
            price = value
    return price


def per_mtok(pico_per_token: int) -> float:
    return float(Decimal(pico_per_token) / _PICO_PER_MTOK)


def _pico(value: Any) -> int:
    return int((Decimal(value) * _PICO_PER_MTOK).to_integral_value())


def _flat(value: Any) -> Rate:
    return ((0, _pico(value)),)


def parse_pricing(raw: Any) -> Price:
    """A mapping's ``config.pricing`` → ``Price``; ``ValueError`` naming the field when
    malformed. ``input_per_mtok`` and ``output_per_mtok`` are required;
    ``cached_input_per_mtok`` (cache reads) and ``cache_write_per_mtok`` (prompt-cache
    writes, e.g. Anthropic's ``cache_creation_input_tokens``) default to the input price."""
    if not isinstance(raw, Mapping):
        raise ValueError("'pricing' must be an object")
    unknown = sorted(set(raw) - set(PRICING_FIELDS))
    if unknown:
        raise ValueError(f"unknown pricing field(s): {', '.join(unknown)}; "
                         f"accepted: {', '.join(PRICING_FIELDS)}")
    values: dict[str, Decimal] = {}
    for name in PRICING_FIELDS:
        value = raw.get(name)
        if value is None:
            if name in _DEFAULTS_TO:
                continue
            raise ValueError(f"'pricing.{name}' is required")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"'pricing.{name}' must be a number")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"'pricing.{name}' must be a number") from None
        if not number.is_finite() or not Decimal(0) <= number <= _MAX_PRICE:
            raise ValueError(f"'pricing.{name}' must be between 0 and {_MAX_PRICE}")
        values[name] = number
    for name, default in _DEFAULTS_TO.items():
        values.setdefault(name, values[default])
    return Price(
        input=_flat(values["input_per_mtok"]),
        output=_flat(values["output_per_mtok"]),
        cached_input=_flat(values["cached_input_per_mtok"]),
        cache_write=_flat(values["cache_write_per_mtok"]),
        source="mapping",
    )


def _rate(value: Any, fallback: Rate) -> Rate:
    """A genai-prices price (Decimal or TieredPrices) → ``Rate``."""
    if value is None:
        return fallback
    if isinstance(value, Decimal | int | float):
        return _flat(value)
    base = getattr(value, "base", None)
    if base is None:
        return fallback
    tiers = sorted((int(t.start), _pico(t.price)) for t in getattr(value, "tiers", ()))
    return ((0, _pico(base)), *tiers)


class PricedHop(Protocol):
    @property
    def provider_type(self) -> str: ...
    @property
    def pricing(self) -> Price | None: ...


class PriceTable:
    """Built-in prices from ``genai-prices``, cached per (provider type, model); the
    package's table loaded on first need."""

    def __init__(self, now: Any = None) -> None:
        self._cache: dict[tuple[str, str], Price | None] = {}
        self._now = now or (lambda: datetime.now(UTC))
        #: the package's snapshot (``_NO_TABLE`` when the package is missing)
        self._snapshot: Any = None
        self._loading: asyncio.Task[Any] | None = None
        #: the table is loaded: no lookup blocks on loading it
        self.loaded = False

    def prepare(self, hops: Iterable[PricedHop]) -> asyncio.Task[Any] | None:
        """Start loading the table off the event loop (once) when one of ``hops`` may
        need it: one without its mapping's pricing, of a provider type the table prices.
        Returns the load in progress, None when none is needed."""
        if self.loaded or all(h.pricing is not None or h.provider_type in _UNPRICED_TYPES
                              for h in hops):
            return None
        if self._loading is None:
            self._loading = asyncio.create_task(asyncio.to_thread(self._load),
                                                name="prices-load")
        return self._loading

    async def ready_for(self, hops: Iterable[PricedHop]) -> None:
        """``prepare``, then wait until the table is loaded; concurrent callers wait for
        the same load, and a caller that goes away does not stop it."""
        loading = self.prepare(hops)
        if loading is not None:
            await asyncio.shield(loading)

    async def close(self) -> None:
        """Wait for a load in progress (its thread cannot be stopped)."""
        if self._loading is not None:
            await asyncio.gather(self._loading, return_exceptions=True)

    def _load(self) -> Any:
        if self._snapshot is None:
            try:
                from genai_prices import data_snapshot
            except ImportError:  # pragma: no cover - a declared dependency
                self._snapshot = _NO_TABLE
            else:
                self._snapshot = data_snapshot.get_snapshot()
            self.loaded = True
        return self._snapshot

    def builtin(self, provider_type: str, model: str) -> Price | None:
        key = (provider_type, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        price = self._lookup(provider_type, model)
        if len(self._cache) > 10_000:  # models named by clients ("provider/model")
            self._cache.clear()
        self._cache[key] = price
        return price

    def price(self, provider_type: str, model: str, override: Price | None) -> Price | None:
        """The effective price of a hop: its mapping's pricing, else built-in, else None."""
        return override if override is not None else self.builtin(provider_type, model)

    def _lookup(self, provider_type: str, model: str) -> Price | None:
        if provider_type in _UNPRICED_TYPES or not model:
            return None
        snapshot = self._snapshot if self.loaded else self._load()
        if snapshot is _NO_TABLE:  # pragma: no cover - a declared dependency
            return None
        attempts: list[str | None] = [None]
        if provider_type in _TABLE_PROVIDERS:
            attempts.insert(0, _TABLE_PROVIDERS[provider_type])
        for provider_id in attempts:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _, info = snapshot.find_provider_model(model, None, provider_id, None)
                    prices = info.get_prices(self._now())
            except (LookupError, ValueError):
                continue
            return _from_model_price(prices, info.context_window)
        return None


def _from_model_price(prices: Any, context_window: int | None) -> Price | None:
    zero: Rate = ((0, 0),)
    input_rate = _rate(getattr(prices, "input_mtok", None), zero)
    output_rate = _rate(getattr(prices, "output_mtok", None), zero)
    if input_rate == zero and output_rate == zero:
        return None  # priced per image/request/second only: not something we can count
    return Price(
        input=input_rate,
        output=output_rate,
        cached_input=_rate(getattr(prices, "cache_read_mtok", None), input_rate),
        cache_write=_rate(getattr(prices, "cache_write_mtok", None), input_rate),
        source="builtin",
        context_window=context_window,
    )
