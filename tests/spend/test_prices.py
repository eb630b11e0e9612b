"""Costs from the built-in price table (genai-prices) and from a mapping's pricing,
table-driven; an unpriced model costs 0."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from proxy.spend.cost import Tokens, cost_nanos, format_usd, tokens_of, worst_case_nanos
from proxy.spend.prices import PriceTable, parse_pricing

pytestmark = pytest.mark.timeout(30)


def usd(nanos: int) -> Decimal:
    return Decimal(nanos) / Decimal(10**9)


# (provider type, model, usage as the upstream reports it, expected USD)
BUILTIN = [
    # gpt-4o-mini: $0.15 in, $0.075 cached in, $0.60 out per MTok
    ("openai", "gpt-4o-mini",
     {"prompt_tokens": 1000, "completion_tokens": 500,
      "prompt_tokens_details": {"cached_tokens": 200}},
     Decimal("0.000120") + Decimal("0.000015") + Decimal("0.0003")),
    # o3-mini: reasoning tokens are part of completion_tokens, billed once at $4.40
    ("openai", "o3-mini",
     {"prompt_tokens": 2000, "completion_tokens": 3000,
      "completion_tokens_details": {"reasoning_tokens": 2500},
      "prompt_tokens_details": {"cached_tokens": 1000}},
     Decimal("0.0011") + Decimal("0.00055") + Decimal("0.0132")),
    # gpt-4o, Responses-API usage shape: $2.50 in, $1.25 cached, $10 out
    ("openai", "gpt-4o",
     {"input_tokens": 10_000, "output_tokens": 1_000,
      "input_tokens_details": {"cached_tokens": 4_000},
      "output_tokens_details": {"reasoning_tokens": 0}},
     Decimal("0.015") + Decimal("0.005") + Decimal("0.01")),
    # claude-3-5-haiku, Anthropic shape: input excludes cache reads ($0.08) and writes ($1)
    ("anthropic", "claude-3-5-haiku-latest",
     {"input_tokens": 1000, "cache_read_input_tokens": 10_000,
      "cache_creation_input_tokens": 2000, "output_tokens": 100},
     Decimal("0.0008") + Decimal("0.0008") + Decimal("0.002") + Decimal("0.0004")),
    # claude-sonnet-4-5 above 200k input tokens: the long-context tier ($6 in, $22.50 out)
    ("anthropic", "claude-sonnet-4-5",
     {"input_tokens": 250_000, "output_tokens": 1000},
     Decimal("1.5") + Decimal("0.0225")),
    # embeddings: input only
    ("openai", "text-embedding-3-small", {"prompt_tokens": 1_000_000, "total_tokens": 1_000_000},
     Decimal("0.02")),
    # an OpenAI-compatible server serving a well-known model, matched by name
    ("custom", "gpt-4o-mini", {"prompt_tokens": 1_000_000, "completion_tokens": 0},
     Decimal("0.15")),
]


@pytest.mark.parametrize(("provider_type", "model", "usage", "expected"), BUILTIN,
                         ids=[f"{m}" for _, m, _, _ in BUILTIN])
def test_builtin_prices(provider_type: str, model: str, usage: dict[str, Any],
                        expected: Decimal) -> None:
    price = PriceTable().builtin(provider_type, model)
    assert price is not None and price.source == "builtin"
    assert usd(cost_nanos(price, tokens_of(usage))) == expected


@pytest.mark.parametrize(("provider_type", "model"), [
    ("ollama", "llama3.1:8b"), ("openai", "no-such-model-xyz"), ("custom", "my-finetune")])
def test_unpriced_model_costs_nothing(provider_type: str, model: str) -> None:
    price = PriceTable().builtin(provider_type, model)
    assert price is None
    assert cost_nanos(price, tokens_of({"prompt_tokens": 10, "completion_tokens": 10})) == 0


def test_mapping_override_wins_over_builtin() -> None:
    override = parse_pricing({"input_per_mtok": 1, "output_per_mtok": "2.5",
                              "cached_input_per_mtok": 0.1})
    table = PriceTable()
    price = table.price("openai", "gpt-4o-mini", override)
    assert price is override and price.source == "mapping"
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000,
             "prompt_tokens_details": {"cached_tokens": 500_000}}
    assert usd(cost_nanos(price, tokens_of(usage))) == Decimal("0.5") + Decimal("0.05") + Decimal(
        "2.5")
    # cached defaults to the input price
    plain = parse_pricing({"input_per_mtok": 3, "output_per_mtok": 15})
    assert usd(cost_nanos(plain, tokens_of(usage))) == Decimal("3") + Decimal("15")


def test_mapping_prices_anthropic_cache_writes_at_their_own_rate() -> None:
    """Anthropic bills a prompt-cache write at 1.25× input (5-minute cache): a mapping can
    say so; without the field a write costs the input price."""
    usage = {"input_tokens": 1_000_000, "cache_read_input_tokens": 2_000_000,
             "cache_creation_input_tokens": 4_000_000, "output_tokens": 1_000_000}
    priced = parse_pricing({"input_per_mtok": 3, "output_per_mtok": 15,
                            "cached_input_per_mtok": "0.3", "cache_write_per_mtok": 3.75})
    assert usd(cost_nanos(priced, tokens_of(usage))) == (
        Decimal("3") + Decimal("0.6") + Decimal("15") + Decimal("15"))
    plain = parse_pricing({"input_per_mtok": 3, "output_per_mtok": 15})
    assert usd(cost_nanos(plain, tokens_of(usage))) == (
        Decimal("3") + Decimal("6") + Decimal("12") + Decimal("15"))
    with pytest.raises(ValueError, match="cache_write_per_mtok"):
        parse_pricing({"input_per_mtok": 3, "output_per_mtok": 15, "cache_write_per_mtok": -1})


@pytest.mark.parametrize("raw", [
    {"input_per_mtok": 1}, {"input_per_mtok": -1, "output_per_mtok": 1},
    {"input_per_mtok": True, "output_per_mtok": 1}, {"input_per_mtok": "x", "output_per_mtok": 1},
    {"input_per_mtok": 1, "output_per_mtok": 1, "bogus": 1}, [1, 2],
    {"input_per_mtok": 1, "output_per_mtok": float("nan")}])
def test_bad_pricing_is_refused(raw: Any) -> None:
    with pytest.raises(ValueError):
        parse_pricing(raw)


def test_costs_sum_exactly_in_integers() -> None:
    price = parse_pricing({"input_per_mtok": "0.15", "output_per_mtok": "0.6"})
    assert cost_nanos(price, Tokens(input=7, output=3)) == 7 * 150 + 3 * 600
    odd = parse_pricing({"input_per_mtok": "0.0375", "output_per_mtok": 0})
    one = cost_nanos(odd, Tokens(input=1, output=0))  # 37.5 nano rounds half up, once
    assert one == 38
    assert sum(one for _ in range(1_000_000)) == 38_000_000
    assert format_usd(435_000) == "0.000435" and format_usd(0) == "0.0"
    assert format_usd(12 * 10**9 + 5) == "12.000000005"


def test_worst_case_uses_highest_tier_and_rounds_up() -> None:
    price = PriceTable().builtin("anthropic", "claude-sonnet-4-5")
    assert price is not None
    # $6 and $22.50 per MTok: the long-context rates, whatever the request's size
    assert usd(worst_case_nanos(price, 1000, 1000)) == Decimal("0.006") + Decimal("0.0225")
    tiny = parse_pricing({"input_per_mtok": "0.001", "output_per_mtok": 0})
    assert worst_case_nanos(tiny, 1, 0) == 1  # 0.001 nano rounds up, never down


def test_tokens_of_reads_each_shape() -> None:
    assert tokens_of(None) is None and tokens_of({}) is None
    assert tokens_of({"prompt_tokens": 5, "prompt_cache_hit_tokens": 2}) == Tokens(5, 0, 2)
    assert tokens_of({"input_tokens": 3, "cache_read_input_tokens": 0,
                      "output_tokens": 1}) == Tokens(3, 1, 0, 0)
    # bogus values count as nothing, never negative
    assert tokens_of({"prompt_tokens": -5, "completion_tokens": "9"}) == Tokens(0, 0)


class _Hop:
    def __init__(self, provider_type: str, pricing: Any = None) -> None:
        self.provider_type, self.pricing = provider_type, pricing


async def test_table_is_not_loaded_for_hops_that_carry_their_pricing() -> None:
    table = PriceTable()
    priced = parse_pricing({"input_per_mtok": 1, "output_per_mtok": 2})
    assert table.prepare([_Hop("openai", priced), _Hop("ollama")]) is None
    await table.ready_for([_Hop("openai", priced), _Hop("ollama")])
    assert not table.loaded
    assert table.price("openai", "gpt-4o-mini", priced) is priced and not table.loaded


async def test_table_loads_once_for_concurrent_requests_that_need_it() -> None:
    table = PriceTable()
    loading = table.prepare([_Hop("custom")])  # started, not waited for
    assert loading is not None and table.prepare([_Hop("openai")]) is loading
    await asyncio.gather(*(table.ready_for([_Hop("openai")]) for _ in range(5)))
    assert table.loaded
    price = table.builtin("openai", "gpt-4o-mini")
    assert price is not None and price.source == "builtin"
    await table.close()


def test_lookup_without_ready_for_loads_the_table_on_the_spot() -> None:
    table = PriceTable()
    assert not table.loaded
    assert table.builtin("openai", "gpt-4o-mini") is not None and table.loaded
