"""Routing groups: mappings of one alias sharing an ``order_index``, spread by weight and
load (``proxy.routing``), without sleeping or servers."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from proxy.routing import Hop, RoutingTable
from supervisors.spec import ProviderSpec


@dataclass
class _Mapping:
    id: int
    alias_name: str
    provider_id: int
    provider_model_name: str
    order_index: int
    is_default: bool = False
    config: dict[str, Any] | None = None


def _table(*members: tuple[str, int, dict[str, Any]], alias: str = "m") -> RoutingTable:
    """One provider per member ``(name, order_index, config)``, all mapped to ``alias``."""
    providers = [ProviderSpec(i + 1, name, "mock", "") for i, (name, _, _) in enumerate(members)]
    mappings = [_Mapping(i + 10, alias, i + 1, f"model-{name}", order, config=config)
                for i, (name, order, config) in enumerate(members)]
    return RoutingTable(providers, mappings)


def _idle(hop: Hop) -> int | None:
    return 0


def test_alias_without_groups_pays_nothing_per_request() -> None:
    route = _table(("a", 0, {}), ("b", 1, {})).resolve("m", None)
    assert route.groups is None
    assert route.ordered(_idle) is route


def test_weights_hold_over_3000_sequential_requests() -> None:
    route = _table(("a", 0, {"weight": 1}), ("b", 0, {"weight": 2}),
                   ("c", 0, {"weight": 3})).resolve("m", None)
    counts = Counter(route.ordered(_idle).hops[0].provider for _ in range(3000))
    for name, share in (("a", 1 / 6), ("b", 2 / 6), ("c", 3 / 6)):
        assert abs(counts[name] / 3000 - share) <= 0.05 * share, counts


def test_weights_hold_with_random_draws_too() -> None:
    """The same rule with independent random numbers (what every later draw uses)."""
    route = _table(("a", 0, {"weight": 1}), ("b", 0, {"weight": 2}),
                   ("c", 0, {"weight": 3})).resolve("m", None)
    assert route.groups is not None
    group = route.groups[0]
    rng = random.Random(7)
    counts = Counter(group.order(_idle, rng)[0].provider for _ in range(30_000))
    for name, share in (("a", 1 / 6), ("b", 2 / 6), ("c", 3 / 6)):
        assert abs(counts[name] / 30_000 - share) <= 0.05 * share, counts


def test_open_circuit_member_gets_nothing_and_comes_last() -> None:
    route = _table(("a", 0, {}), ("b", 0, {}), ("c", 0, {})).resolve("m", None)

    def load(hop: Hop) -> int | None:
        return None if hop.provider == "b" else 0

    orders = [[h.provider for h in route.ordered(load).hops] for _ in range(1000)]
    assert all(order[-1] == "b" for order in orders)
    assert Counter(order[0] for order in orders).keys() == {"a", "c"}


def test_busier_member_gets_less_than_its_weight() -> None:
    route = _table(("a", 0, {}), ("b", 0, {})).resolve("m", None)

    def load(hop: Hop) -> int | None:
        return 5 if hop.provider == "a" else 1

    counts = Counter(route.ordered(load).hops[0].provider for _ in range(1000))
    # equal weights, but of two drawn members the less busy goes first: "a" only when
    # it was drawn twice, which without replacement never happens
    assert counts["a"] == 0 and counts["b"] == 1000


def test_failed_member_is_followed_by_its_group_then_the_next_order_index() -> None:
    route = _table(("a", 0, {}), ("b", 0, {}), ("c", 0, {}), ("z", 1, {})).resolve("m", None)
    for _ in range(100):
        order = [h.provider for h in route.ordered(_idle).hops]
        assert sorted(order[:3]) == ["a", "b", "c"] and order[3] == "z"


def test_behaviour_keys_are_not_sent_upstream() -> None:
    route = _table(("a", 0, {"weight": 2, "hedge_after_ms": 150, "cache_ttl": 60,
                             "temperature": 0.1})).resolve("m", None)
    hop = route.hops[0]
    assert dict(hop.defaults) == {"temperature": 0.1}
    assert (hop.weight, hop.hedge_after, hop.cache_ttl) == (2.0, 0.15, 60)
    assert route.cache_ttl == 60


@pytest.mark.parametrize("bad", [0, -1, "2", True, None])
def test_nonsense_weight_counts_as_one(bad: Any) -> None:
    route = _table(("a", 0, {"weight": bad}), ("b", 0, {})).resolve("m", None)
    assert route.hops[0].weight == 1.0


def test_request_fallbacks_keep_groups() -> None:
    providers = [ProviderSpec(i, n, "mock", "") for i, n in enumerate("abcd", 1)]
    mappings = [_Mapping(10, "m", 1, "x", 0), _Mapping(11, "m", 2, "x", 0),
                _Mapping(12, "f", 3, "x", 0), _Mapping(13, "f", 4, "x", 0)]
    table = RoutingTable(providers, mappings)
    route = table.resolve("m", None, ["f"])
    assert route.groups is not None and len(route.groups) == 2
    order = [h.provider for h in route.ordered(_idle).hops]
    assert sorted(order[:2]) == ["a", "b"] and sorted(order[2:]) == ["c", "d"]
