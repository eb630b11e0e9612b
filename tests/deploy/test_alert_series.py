"""The alert unit tests (alerts_test.yml) are fed only with what the server exports:
every input series is checked against a real scrape of a running gateway (metric name,
label names, ``le`` bucket bounds exactly as rendered, provider outcome values). Also:
the latency buckets reach the longest answer a provider allows, and probes and scrapes
are not API traffic in ``proxy_requests_total`` or the duration histogram."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from supervisors import errors
from supervisors.spec import ProviderConfig
from tests.harness import ProxyProcess

pytestmark = pytest.mark.timeout(60)

UNIT_TESTS = Path(__file__).with_name("alerts_test.yml")
_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+\S+$")
_LABEL = re.compile(r'(\w+)="((?:\\.|[^"\\])*)"')
#: labels Prometheus adds to every scraped series
_TARGET_LABELS = {"instance", "job"}
#: counters real traffic cannot move in a short test (a worker task dying, Redis failing
#: under load, the audit queue overflowing): checked to be registered, with their labels
_UNPRODUCED = {
    "proxy_supervisor_restarts_total": {"provider"},
    "proxy_ratelimit_backend_fallbacks_total": set(),
    "proxy_audit_dropped_total": set(),
}

Scrape = dict[str, list[dict[str, str]]]


def _parse(text: str) -> Scrape:
    samples: Scrape = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            samples.setdefault(match.group(1), []).append(dict(_LABEL.findall(match.group(2) or "")))
    return samples


@pytest.fixture(scope="module")
def scrape(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scrape]:
    """A gateway after real traffic: answers, a rate-limited request, a worker crash, a
    streamed answer (time to first byte), probes and scrapes."""
    proc = ProxyProcess(tmp_path_factory.mktemp("scrape"),
                        env={"RATE_LIMIT_PER_KEY_RPM": "3"}).start()
    try:
        mock = proc.admin.provider("mock", "mock", crash_marker="CRASH")
        proc.admin.mapping("m", mock["id"], "m")
        key = proc.admin.client_key("alerts")
        with openai.OpenAI(base_url=proc.url + "/v1", api_key=key, max_retries=0) as client:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            list(client.chat.completions.create(
                model="m", stream=True, messages=[{"role": "user", "content": "hi"}]))
            with pytest.raises(openai.APIError):
                client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "CRASH"}])
            with pytest.raises(openai.RateLimitError):
                for _ in range(5):
                    client.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": "hi"}])
        for path in ("/health", "/readyz", "/metrics", "/health", "/readyz"):
            assert httpx.get(proc.url + path, timeout=5).status_code == 200
        yield _parse(httpx.get(proc.url + "/metrics", timeout=5).text)
    finally:
        proc.stop()


def _input_series() -> Iterator[tuple[str, dict[str, str]]]:
    for case in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        for entry in case["input_series"]:
            match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})?", entry["series"].strip())
            assert match, entry["series"]
            yield match.group(1), dict(_LABEL.findall(match.group(2) or ""))


def _outcomes() -> set[str]:
    """Every value of proxy_provider_requests_total{status}: success or an error reason."""
    found = {"success"}
    stack: list[type] = [errors.ProxyError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        found.add(str(cls.reason))
    return found | {"upstream_rate_limited", "upstream_rejected"}


def test_alert_inputs_are_series_the_server_exports(scrape: Scrape) -> None:
    for name, labels in _input_series():
        if name == "up":
            continue
        if name in _UNPRODUCED and name not in scrape:
            from proxy.metrics import Metrics

            registered = {c.name for c in Metrics().registry.collectors.values()}
            assert name in registered, name
            assert set(labels) - _TARGET_LABELS <= _UNPRODUCED[name], (name, labels)
            continue
        assert name in scrape, f"{name} is not exported (scrape has {sorted(scrape)})"
        exported_labels = set().union(*(s.keys() for s in scrape[name]))
        unknown = set(labels) - exported_labels - _TARGET_LABELS
        assert not unknown, f"{name}: labels {unknown} are not exported"
        if "le" in labels:
            bounds = {s["le"] for s in scrape[name]}
            assert labels["le"] in bounds, f"{name}: no bucket le={labels['le']} in {bounds}"
        if name == "proxy_provider_requests_total":
            status = labels["status"]
            assert status in _outcomes() or re.fullmatch(r"upstream_\d{3}", status), status


def test_latency_buckets_reach_the_longest_answer_allowed(scrape: Scrape) -> None:
    for name in ("proxy_request_duration_seconds_bucket", "proxy_time_to_first_byte_seconds_bucket"):
        bounds = {float(s["le"]) for s in scrape[name]}
        finite = max(b for b in bounds if b != float("inf"))
        assert finite >= ProviderConfig().timeout, (name, sorted(bounds))


def test_probes_and_scrapes_are_not_api_requests(scrape: Scrape) -> None:
    for name in ("proxy_requests_total", "proxy_request_duration_seconds_count"):
        endpoints = {s["endpoint"] for s in scrape[name]}
        assert "/v1/chat/completions" in endpoints
        assert not endpoints & {"/health", "/readyz", "/metrics"}, endpoints


def _humanize(seconds: float) -> str:
    """Prometheus' humanizeDuration for 1 min ≤ seconds < 1 h."""
    return f"{int(seconds // 60)}m {int(seconds % 60)}s"


@pytest.mark.parametrize("latency", [30.0, 90.0, 400.0])
def test_high_latency_alert_fires_in_promtool_on_the_exported_buckets(
    scrape: Scrape, tmp_path: Path, latency: float
) -> None:
    """Series built from the real scrape's bucket bounds: every chat request takes
    ``latency`` seconds for 30 minutes; HighLatencyP99 fires exactly when that is > 60 s."""
    import subprocess

    from tests.deploy.test_prometheus import ALERTS, _promtool

    promtool = _promtool()
    labels = 'method="POST", endpoint="/v1/chat/completions"'
    bounds = sorted({s["le"] for s in scrape["proxy_request_duration_seconds_bucket"]
                     if s.get("endpoint") == "/v1/chat/completions"}, key=float)
    series = [{"series": f'proxy_request_duration_seconds_bucket{{{labels}, le="{le}"}}',
               "values": "0+10x30" if float(le) >= latency else "0x30"} for le in bounds]
    series.append({"series": f"proxy_request_duration_seconds_count{{{labels}}}",
                   "values": "0+10x30"})
    upper = min(float(le) for le in bounds if float(le) >= latency)
    lower = max((float(le) for le in bounds if float(le) < latency), default=0.0)
    p99 = lower + (upper - lower) * 0.99
    expected = [] if latency <= 60 else [{
        "exp_labels": {"severity": "warning"},
        "exp_annotations": {
            "summary": "p99 request latency above 60 s",
            "description": f"p99 of proxy_request_duration_seconds is {_humanize(p99)} "
                           "over 10 minutes."}}]
    spec = {"rule_files": [str(ALERTS)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series,
        "alert_rule_test": [{"eval_time": "25m", "alertname": "HighLatencyP99",
                             "exp_alerts": expected}]}]}
    path = tmp_path / "latency_test.yml"
    path.write_text(yaml.safe_dump(spec))
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True,
                            text=True, timeout=50, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
