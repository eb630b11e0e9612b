"""prometheus/alerts.yml and prometheus/prometheus.yml: the alerts exist, wait with
`for:`, read counters only through rates, name only exported metrics (plus `up`), and,
when promtool is installed, pass `promtool check` and the unit tests in alerts_test.yml."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.contract import ALLOWED_SERIES, COUNTERS, REPO
from tests.deploy.promql import series_names, unwrapped_counters
from tests.services import on_ci

ALERTS = REPO / "prometheus" / "alerts.yml"
CONFIG = REPO / "prometheus" / "prometheus.yml"
UNIT_TESTS = Path(__file__).with_name("alerts_test.yml")
REQUIRED = {
    "ProviderErrorRateHigh",
    "CircuitOpen",
    "HighLatencyP99",
    "NoHealthyKeys",
    "SupervisorRestarting",
    "RateLimitedSpike",
    "AuditDropping",
    "ProxyDown",
}


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _minutes(duration: str) -> float:
    match = re.fullmatch(r"(\d+)([smh])", duration)
    assert match, duration
    return int(match.group(1)) * {"s": 1 / 60, "m": 1, "h": 60}[match.group(2)]


@pytest.mark.timeout(10)
def test_required_alerts_exist_once_each() -> None:
    names = [rule["alert"] for rule in _rules()]
    assert len(names) == len(set(names))
    assert REQUIRED <= set(names), f"missing: {REQUIRED - set(names)}"


@pytest.mark.timeout(10)
def test_every_alert_waits_and_is_labelled_and_explained() -> None:
    for rule in _rules():
        assert _minutes(rule["for"]) >= 1, f"{rule['alert']} needs for: of at least 1m"
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    circuit = next(r for r in _rules() if r["alert"] == "CircuitOpen")
    assert _minutes(circuit["for"]) >= 5


@pytest.mark.timeout(10)
def test_alerts_name_only_exported_metrics_and_up() -> None:
    for rule in _rules():
        names = series_names(rule["expr"])
        assert names, rule["alert"]
        unknown = names - ALLOWED_SERIES - {"up"}
        assert not unknown, f"{rule['alert']}: unknown metrics {unknown}"
    proxy_down = next(r for r in _rules() if r["alert"] == "ProxyDown")
    assert series_names(proxy_down["expr"]) == {"up"}


@pytest.mark.timeout(10)
def test_no_alert_compares_a_raw_counter() -> None:
    """A raw counter never goes back down: `errors_total > 0` would fire forever."""
    for rule in _rules():
        assert not unwrapped_counters(rule["expr"], COUNTERS), rule["alert"]


@pytest.mark.timeout(10)
def test_scrape_config_targets_the_proxy_and_loads_the_alerts() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    proxy = jobs["openai-proxy"]
    assert proxy["metrics_path"] == "/metrics"
    assert proxy["static_configs"][0]["targets"] == ["proxy:8000"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = dict(
        m.split(":")[:2] for m in compose["services"]["prometheus"]["volumes"] if m.startswith("./")
    )
    assert mounts["./prometheus/alerts.yml"] in config["rule_files"]
    for rule in _rules():
        if "job=" in rule["expr"]:
            assert 'job="openai-proxy"' in rule["expr"]


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        reason = "promtool is not installed (apt-get install prometheus)"
        if on_ci():
            pytest.fail(f"{reason}; CI=true: .ci/run installs it")
        pytest.skip(reason)
    return promtool


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=50, check=False)


@pytest.mark.timeout(60)
def test_promtool_checks_rules_and_config(tmp_path: Path) -> None:
    promtool = _promtool()
    rules = _run(promtool, "check", "rules", str(ALERTS))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    shutil.copy2(ALERTS, tmp_path / "alerts.yml")
    config = CONFIG.read_text().replace("/etc/prometheus/alerts.yml", str(tmp_path / "alerts.yml"))
    (tmp_path / "prometheus.yml").write_text(config)
    checked = _run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.timeout(60)
def test_alert_unit_tests_pass() -> None:
    promtool = _promtool()
    result = _run(promtool, "test", "rules", str(UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
