"""The worst-case cost of a request, reserved at admission before any upstream is called.

* Input: the size of the request body in bytes. A token is never shorter than one byte of
  the text it encodes, and the JSON around the text (roles, keys, tool schemas) outweighs
  the few tokens of per-message overhead, so the body's bytes bound the input tokens. It
  costs nothing to compute and over-reserves only until the request settles.
* Output: ``max_completion_tokens`` / ``max_tokens`` / ``max_output_tokens`` from the
  request, else the hop's mapping ``config.max_tokens``, else the model's context window
  from the price table, else ``DEFAULT_OUTPUT_BOUND``; times ``n`` choices. Embeddings
  have no output.
* Price: the highest of the chain (each hop's own price and output bound), at the
  highest tier rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..routing import Route
from .cost import worst_case_nanos
from .prices import PriceTable

__all__ = ["DEFAULT_OUTPUT_BOUND", "output_bound", "worst_case"]

DEFAULT_OUTPUT_BOUND = 32_768
_OUTPUT_FIELDS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


def _positive(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def output_bound(body: Mapping[str, Any], defaults: Mapping[str, Any],
                 context_window: int | None) -> int:
    bound = None
    for name in _OUTPUT_FIELDS:
        bound = _positive(body.get(name))
        if bound is not None:
            break
    if bound is None:
        for name in _OUTPUT_FIELDS:
            bound = _positive(defaults.get(name))
            if bound is not None:
                break
    if bound is None:
        bound = context_window or DEFAULT_OUTPUT_BOUND
    choices = _positive(body.get("n")) or 1
    return bound * min(choices, 128)


def worst_case(prices: PriceTable, route: Route, body: Mapping[str, Any], body_size: int,
               has_output: bool = True) -> int:
    """Nano-dollars to reserve: the most any hop of ``route`` could cost."""
    worst = 0
    for hop in route.hops:
        price = prices.price(hop.provider_type, hop.model, hop.pricing)
        if price is None:
            continue
        out = output_bound(body, hop.defaults, price.context_window) if has_output else 0
        worst = max(worst, worst_case_nanos(price, body_size, out))
    return worst
