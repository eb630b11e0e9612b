"""The PromQL reader that the dashboard and alert checks rely on."""

from __future__ import annotations

import pytest

from tests.deploy.contract import COUNTERS
from tests.deploy.promql import series_names, unwrapped_counters

CASES = [
    ('rate(proxy_requests_total{status=~"5.."}[5m])', {"proxy_requests_total"}),
    (
        "histogram_quantile(0.99, sum by (le) (rate(proxy_request_duration_seconds_bucket[$__rate_interval])))",
        {"proxy_request_duration_seconds_bucket"},
    ),
    (
        "sum by (provider) (rate(a_total[10m])) / on () group_left () sum(rate(b_total[10m])) > 0.1",
        {"a_total", "b_total"},
    ),
    ('up{job="openai-proxy"} == 0', {"up"}),
    ('absent(up{job="x"})', {"up"}),
    (
        "max by (provider) (proxy_circuit_state) > 0 and on (provider) foo offset 5m",
        {"proxy_circuit_state", "foo"},
    ),
    ('sum(rate(x_total{l="by (a) sum(fake_metric)"}[1e3s])) * 1e3', {"x_total"}),
    ("label_values(proxy_provider_requests_total, provider)", {"proxy_provider_requests_total"}),
    (
        'min by (provider) (proxy_provider_keys_healthy{provider=~"$provider"})',
        {"proxy_provider_keys_healthy"},
    ),
    ("increase(proxy_tokens_total[$__range])", {"proxy_tokens_total"}),
]


@pytest.mark.timeout(5)
@pytest.mark.parametrize(("expr", "expected"), CASES)
def test_series_names_lists_exactly_the_selected_series(expr: str, expected: set[str]) -> None:
    assert series_names(expr) == expected


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    ("expr", "raw"),
    [
        ("proxy_audit_dropped_total > 0", {"proxy_audit_dropped_total"}),
        ('proxy_fallbacks_total{model="m"} > 3', {"proxy_fallbacks_total"}),
        ("sum(rate(proxy_audit_dropped_total[5m])) > 0", set()),
        ('increase(proxy_fallbacks_total{model="m"} [15m]) > 3', set()),
        ("proxy_circuit_state > 0", set()),
    ],
)
def test_unwrapped_counters_finds_counters_compared_without_a_range(
    expr: str, raw: set[str]
) -> None:
    assert unwrapped_counters(expr, COUNTERS) == raw
