"""The worst-case cost of a request, reserved at admission before any upstream is called.

* Input: the size of the request body in bytes. A token is never shorter than one byte of
  the text it encodes, and the JSON around the text (roles, keys, tool schemas) outweighs
  the few tokens of per-message overhead, so the body's bytes bound the input tokens. It
  costs nothing to compute and over-reserves only until the request settles.
* Output: ``max_completion_tokens`` / ``max_tokens`` / ``max_output_tokens`` from the
  request (each ingress reads its own into ``Prepared.max_output_tokens``), else the hop's mapping ``config.max_tokens``, else the model's context window
  from the price table, else ``DEFAULT_OUTPUT_BOUND``; times ``n`` choices (embedding
  models have no output price, so their bound costs nothing).
* Price: the highest of the chain (each hop's own price and output bound), at the
  highest tier rates.

``worst_terms`` is the part that depends on the route and the request's output cap only
(callers may keep it per route); ``worst_of`` applies it to a request's size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..routing import Route
from .prices import PriceTable

__all__ = ["DEFAULT_OUTPUT_BOUND", "Terms", "output_bound", "worst_case", "worst_of",
           "worst_terms"]

#: per priced hop: (pico-dollars per input token, pico-dollars for the output bound)
Terms = tuple[tuple[int, int], ...]

DEFAULT_OUTPUT_BOUND = 32_768
_OUTPUT_FIELDS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


def _positive(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def output_bound(max_output: int | None, defaults: Mapping[str, Any],
                 context_window: int | None, choices: int = 1) -> int:
    bound = _positive(max_output)
    if bound is None:
        for name in _OUTPUT_FIELDS:
            bound = _positive(defaults.get(name))
            if bound is not None:
                break
    if bound is None:
        bound = context_window or DEFAULT_OUTPUT_BOUND
    return bound * min(max(choices, 1), 128)


def worst_terms(prices: PriceTable, route: Route, max_output: int | None,
                choices: Any = 1) -> Terms:
    """What each priced hop of ``route`` could cost, apart from the request's size.
    ``max_output`` is the request's own output cap (the ingress reads it), ``choices``
    its ``n``."""
    n = _positive(choices) or 1
    terms: list[tuple[int, int]] = []
    for hop in route.hops:
        price = prices.price(hop.provider_type, hop.model, hop.pricing)
        if price is None:
            continue
        out = output_bound(max_output, hop.defaults, price.context_window, n)
        terms.append((price.highest_input, out * price.highest_output))
    return tuple(terms)


def worst_of(terms: Terms, body_size: int) -> int:
    """Nano-dollars to reserve for a request of ``body_size`` bytes: the dearest hop,
    rounded up (as ``worst_case_nanos``)."""
    worst = 0
    for per_input, output in terms:
        nanos = -(-(body_size * per_input + output) // 1000)
        if nanos > worst:
            worst = nanos
    return worst


def worst_case(prices: PriceTable, route: Route, max_output: int | None, body_size: int,
               choices: Any = 1) -> int:
    """Nano-dollars to reserve: the most any hop of ``route`` could cost."""
    return worst_of(worst_terms(prices, route, max_output, choices), body_size)
