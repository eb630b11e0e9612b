"""What the tests read back: Prometheus samples from ``/metrics``, headers a fake received."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from openai.types.chat import ChatCompletionChunk

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

__all__ = ["audit_record", "headers_of", "metric_total", "stream_chunks", "wait_for_metric"]

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


def audit_record(gateway: ProxyProcess, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """The audit record of ``request_id`` (written asynchronously: polled until it appears)."""
    deadline = time.monotonic() + timeout
    while True:
        after: int | None = None
        while True:
            params: dict[str, int] = {"limit": 1000}
            if after is not None:
                params["after_id"] = after
            page = gateway.admin.http.get("/admin/audit", params=params).json()
            for record in page["data"]:
                if record["request_id"] == request_id:
                    return dict(record)
            after = page.get("next_after_id")
            if after is None:
                break
        if time.monotonic() > deadline:
            raise AssertionError(f"no audit record for request {request_id} in {timeout} s")
        time.sleep(0.1)


def wait_for_metric(gateway: ProxyProcess, name: str, expected: float,
                    labels: dict[str, str], timeout: float = 5.0) -> float:
    """Poll ``/metrics`` until the summed samples reach ``expected``; return the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = metric_total(gateway, name, **labels)
        if value >= expected or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def stream_chunks(raw: Any) -> list[ChatCompletionChunk]:
    """All chunks of a ``with_raw_response`` stream (its ``parse()`` is typed ``object``)."""
    return list(raw.parse())
