"""The cost of a request from the usage the upstream reported, in integer nano-dollars.

Usage arrives in three shapes and is read into one ``Tokens``:

* OpenAI chat / completions / embeddings: ``prompt_tokens`` (cached ones included, in
  ``prompt_tokens_details.cached_tokens``; DeepSeek-style ``prompt_cache_hit_tokens``
  too), ``completion_tokens`` (reasoning included, in
  ``completion_tokens_details.reasoning_tokens``);
* OpenAI Responses: ``input_tokens`` (cached included, ``input_tokens_details``),
  ``output_tokens`` (reasoning included, ``output_tokens_details``);
* Anthropic Messages: ``input_tokens`` (uncached only), ``cache_read_input_tokens``,
  ``cache_creation_input_tokens``, ``output_tokens``.

Cost = uncached input × input price + cached input × cached price + cache writes ×
cache-write price + output × output price; reasoning tokens are output tokens (they are
part of the output count in every shape above and billed at the output price). The sum is
exact in pico-dollars and rounded half-up once, to nano-dollars (1e-9 USD): every later
sum is of integers, so totals never drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .prices import Price, rate_at

__all__ = ["NANOS_PER_USD", "Tokens", "cost_nanos", "format_usd", "nanos_to_usd", "tokens_of",
           "usd_to_nanos", "worst_case_nanos"]

NANOS_PER_USD = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Tokens:
    input: int  # every input token, cached and cache writes included
    output: int  # reasoning included
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _detail(usage: Mapping[str, Any], outer: str, inner: str) -> int:
    details = usage.get(outer)
    return _int(details.get(inner)) if isinstance(details, Mapping) else 0


def tokens_of(usage: Mapping[str, Any] | None) -> Tokens | None:
    """``usage`` in any of the three shapes → ``Tokens``; None when it counts nothing."""
    if not usage:
        return None
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        prompt = _int(usage.get("prompt_tokens"))
        cached = _detail(usage, "prompt_tokens_details", "cached_tokens") or _int(
            usage.get("prompt_cache_hit_tokens"))
        return Tokens(prompt, _int(usage.get("completion_tokens")), min(cached, prompt), 0,
                      _detail(usage, "completion_tokens_details", "reasoning_tokens"))
    if "input_tokens" in usage or "output_tokens" in usage:
        read = _int(usage.get("cache_read_input_tokens"))
        write = _int(usage.get("cache_creation_input_tokens"))
        output = _int(usage.get("output_tokens"))
        reasoning = _detail(usage, "output_tokens_details", "reasoning_tokens")
        if read or write or "cache_read_input_tokens" in usage:  # Anthropic: input is uncached
            return Tokens(_int(usage.get("input_tokens")) + read + write, output, read, write,
                          reasoning)
        total = _int(usage.get("input_tokens"))
        cached = _detail(usage, "input_tokens_details", "cached_tokens")
        return Tokens(total, output, min(cached, total), 0, reasoning)
    return None


def cost_nanos(price: Price | None, tokens: Tokens | None) -> int:
    """The cost in nano-dollars (0 when unpriced or nothing was counted)."""
    if price is None or tokens is None:
        return 0
    size = tokens.input
    cached = min(tokens.cached, size)
    write = min(tokens.cache_write, size - cached)
    pico = (
        (size - cached - write) * rate_at(price.input, size)
        + cached * rate_at(price.cached_input, size)
        + write * rate_at(price.cache_write, size)
        + tokens.output * rate_at(price.output, size)
    )
    return (pico + 500) // 1000


def worst_case_nanos(price: Price | None, input_tokens: int, output_tokens: int) -> int:
    """An upper bound of the cost (highest tier rates), rounded up to nano-dollars."""
    if price is None:
        return 0
    pico = input_tokens * price.highest_input + output_tokens * price.highest_output
    return -(-pico // 1000)


def format_usd(nanos: int) -> str:
    """``435000`` → ``"0.000435"`` (no exponent, no trailing zeros, at least one decimal)."""
    sign = "-" if nanos < 0 else ""
    whole, frac = divmod(abs(nanos), NANOS_PER_USD)
    digits = f"{frac:09d}".rstrip("0") or "0"
    return f"{sign}{whole}.{digits}"


def nanos_to_usd(nanos: int) -> float:
    return round(nanos / NANOS_PER_USD, 9)


def usd_to_nanos(usd: float | int | None) -> int | None:
    """A USD amount given as a JSON number → nano-dollars (exact for its decimal text)."""
    if usd is None:
        return None
    return int((Decimal(repr(usd)) * NANOS_PER_USD).to_integral_value())
