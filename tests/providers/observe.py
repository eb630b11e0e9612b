"""What the tests read back: Prometheus samples from ``/metrics``, headers a fake received."""

from __future__ import annotations

import re

import httpx

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

__all__ = ["headers_of", "metric_total"]

_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric_total(gateway: ProxyProcess, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``, from ``/metrics``."""
    text = httpx.get(gateway.url + "/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] != name:
            continue
        found = dict(_LABEL.findall(match["labels"] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match["value"])
    return total


def headers_of(fake: FakeUpstream, index: int = -1) -> dict[str, str]:
    """The headers the fake received on a recorded request, lower-cased names."""
    return {k.lower(): v for k, v in fake.requests[index].headers.items()}
