"""grafana/dashboard.json: loads, lays out, covers every signal, and queries only
metrics the proxy exports. When promtool is installed every expression is also parsed by
Prometheus itself (as a recording rule, Grafana variables substituted)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.contract import ALLOWED_SERIES, COUNTERS, GAUGES, HISTOGRAMS, REPO
from tests.deploy.promql import series_names

DASHBOARD = REPO / "grafana" / "dashboard.json"
PROVISIONING = REPO / "grafana" / "provisioning"


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _expressions() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in _panels() for t in p["targets"]]


def _variable_queries() -> list[str]:
    out = []
    for variable in _dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            out.append(query["query"] if isinstance(query, dict) else query)
    return out


@pytest.mark.timeout(10)
def test_dashboard_loads_with_unique_ids_and_a_stable_uid() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "openai-proxy" and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in _panels():
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        assert panel["datasource"]["uid"] == "${datasource}"


@pytest.mark.timeout(10)
def test_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in _dashboard()["panels"]:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


@pytest.mark.timeout(10)
def test_every_query_names_only_exported_metrics() -> None:
    queries = _expressions() + [("variable", q) for q in _variable_queries()]
    for title, expr in queries:
        names = series_names(expr)
        assert names, f"{title}: no metric in {expr}"
        unknown = names - ALLOWED_SERIES
        assert not unknown, f"{title}: unknown metrics {unknown} in {expr}"


@pytest.mark.timeout(10)
def test_every_metric_is_on_the_dashboard() -> None:
    used = set().union(*(series_names(e) for _, e in _expressions()))
    expected = COUNTERS | GAUGES | {f"{h}_bucket" for h in HISTOGRAMS}
    assert expected <= used, f"not charted: {sorted(expected - used)}"


@pytest.mark.timeout(10)
def test_latency_panels_are_quantiles_over_buckets_by_le() -> None:
    quantiles = [e for _, e in _expressions() if "histogram_quantile" in e]
    assert any("proxy_request_duration_seconds_bucket" in e for e in quantiles)
    assert any("proxy_time_to_first_byte_seconds_bucket" in e for e in quantiles)
    for expr in quantiles:
        assert re.search(r"by \(([\w, ]*\b)?le\)", expr), f"quantile must keep le: {expr}"
        assert "rate(" in expr
    titles = " ".join(p["title"].lower() for p in _panels())
    for word in (
        "request rate",
        "latency",
        "error",
        "fallback",
        "circuit",
        "keys",
        "rate-limited",
        "tokens",
        "first byte",
        "inbox",
        "restarts",
    ):
        assert word in titles, f"no panel about {word}"


@pytest.mark.timeout(10)
def test_counters_are_only_read_through_rate_or_increase() -> None:
    for title, expr in _expressions():
        for name in series_names(expr) & COUNTERS:
            assert re.search(rf"(rate|increase)\({name}(\{{[^}}]*\}})?\[", expr), (
                f"{title}: counter {name} read raw"
            )


@pytest.mark.timeout(10)
def test_provisioning_points_grafana_at_prometheus_and_the_dashboard() -> None:
    datasource = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "openai-proxy.yml").read_text())
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    dashboard_mount = next(m for m in mounts if m.startswith("./grafana/dashboard.json:"))
    target = dashboard_mount.split(":")[1]
    assert Path(target).parent == Path(provider["providers"][0]["options"]["path"])


def _as_rule_expr(expr: str) -> str:
    return (
        expr.replace("$__rate_interval", "5m")
        .replace("$__range", "1h")
        .replace("$provider", ".*")
        .replace("$endpoint", ".*")
    )


@pytest.mark.timeout(60)
def test_promtool_parses_every_panel_expression(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    rules = [
        {"record": f"dashboard:panel_{i}", "expr": _as_rule_expr(expr)}
        for i, (_, expr) in enumerate(_expressions())
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "$" not in path.read_text(), "unsubstituted Grafana variable"
