"""Tracing against a real OTLP/HTTP receiver run by the test (protobuf decoded).

The gateway runs as a subprocess with ``OTEL_EXPORTER_OTLP_ENDPOINT`` at the receiver;
spans are checked for names, parent/child links, the continued ``traceparent``, the
GenAI attributes on a request that falls back once and on a resumed stream, and message
content only when enabled. A dead collector must not touch requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess
from tests.services import free_port

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


class Collector:
    """An OTLP/HTTP trace receiver: ``POST /v1/traces`` with a protobuf body."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = ExportTraceServiceRequest.FromString(body)
                with collector.lock:
                    for rs in request.resource_spans:
                        resource = {a.key: _value(a.value) for a in rs.resource.attributes}
                        for ss in rs.scope_spans:
                            for span in ss.spans:
                                collector.spans.append(_span(span, resource))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def trace(self, trace_id: str, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [s for s in self.spans if s["trace_id"] == trace_id]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} spans of {trace_id}, got {found}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def _span(span: Any, resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": span.name, "kind": span.kind, "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(), "parent_id": span.parent_span_id.hex(),
        "attributes": {a.key: _value(a.value) for a in span.attributes},
        "events": [e.name for e in span.events], "status": span.status.code,
        "resource": resource,
    }


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    c = Collector()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai") as fake:
        yield fake


def _configure(proc: ProxyProcess, upstream: FakeUpstream) -> str:
    admin = proc.admin
    first = admin.provider("first", "openai", upstream.base_url, keys=["sk-a-0001"],
                           max_retries=0)
    second = admin.provider("second", "openai", upstream.base_url, keys=["sk-b-0002"],
                            max_retries=0)
    admin.mapping("traced", first["id"], "gpt-first", order=0)
    admin.mapping("traced", second["id"], "gpt-second", order=1)
    return admin.client_key("tracer")


def _env(collector_url: str, **more: str) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": collector_url, "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_SERVICE_NAME": "gateway-under-test", **more}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, collector: Collector,
            upstream: FakeUpstream) -> Iterator[tuple[ProxyProcess, str]]:
    with ProxyProcess(tmp_path_factory.mktemp("traced"), env=_env(collector.url)) as proc:
        yield proc, _configure(proc, upstream)


def _chat(proc: ProxyProcess, key: str, trace_id: str, **body: Any) -> httpx.Response:
    return httpx.post(
        proc.url + "/v1/chat/completions", timeout=20,
        headers={"Authorization": f"Bearer {key}", "traceparent": f"00-{trace_id}-{PARENT_ID}-01"},
        json={"model": "traced", "messages": [{"role": "user", "content": "secret prompt"}],
              **body})


def _by_kind(spans: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    server = [s for s in spans if s["kind"] == 2]  # SPAN_KIND_SERVER
    clients = sorted((s for s in spans if s["kind"] == 3),  # SPAN_KIND_CLIENT
                     key=lambda s: s["attributes"]["openai_proxy.attempt"])
    assert len(server) == 1
    return server[0], clients


@pytest.mark.timeout(60)
def test_fallback_once_gives_a_server_span_and_one_client_span_per_attempt(
        gateway: tuple[ProxyProcess, str], collector: Collector, upstream: FakeUpstream) -> None:
    proc, key = gateway
    upstream.add_fault(model="gpt-first", status=500, times=1)
    upstream.requests.clear()
    resp = _chat(proc, key, TRACE_ID)
    assert resp.status_code == 200, resp.text
    server, (failed, served) = _by_kind(collector.trace(TRACE_ID, 3))
    assert server["name"] == "POST /v1/chat/completions"
    assert server["parent_id"] == PARENT_ID  # the incoming traceparent is continued
    assert server["resource"]["service.name"] == "gateway-under-test"
    assert server["attributes"]["gen_ai.request.model"] == "traced"
    assert server["attributes"]["http.response.status_code"] == 200
    for client in (failed, served):
        assert client["parent_id"] == server["span_id"]
        assert client["attributes"]["gen_ai.operation.name"] == "chat"
        assert client["attributes"]["gen_ai.provider.name"] == "openai"
        assert client["attributes"]["server.address"] == "127.0.0.1"
    assert failed["name"] == "chat gpt-first"
    assert failed["attributes"]["error.type"]
    assert failed["status"] == 2  # STATUS_CODE_ERROR
    assert served["name"] == "chat gpt-second"
    assert served["attributes"]["openai_proxy.attempt"] == 2
    assert served["attributes"]["openai_proxy.fallback_reason"]
    assert served["attributes"]["gen_ai.response.model"] == "gpt-second"
    assert served["attributes"]["gen_ai.usage.input_tokens"] > 0
    assert served["attributes"]["gen_ai.usage.output_tokens"] > 0
    assert "error.type" not in served["attributes"]
    # content is off by default
    assert not any("gen_ai.input.messages" in s["attributes"] for s in (server, failed, served))
    # the upstream got the attempt's own traceparent, in the caller's trace
    sent = {r.headers.get("traceparent") or r.headers.get("Traceparent") for r in upstream.requests}
    assert f"00-{TRACE_ID}-{served['span_id']}-01" in sent
    assert f"00-{TRACE_ID}-{failed['span_id']}-01" in sent


@pytest.mark.timeout(60)
def test_resumed_stream_shows_the_broken_and_the_resuming_attempt(
        gateway: tuple[ProxyProcess, str], collector: Collector, upstream: FakeUpstream) -> None:
    proc, key = gateway
    trace_id = "5bf92f3577b34da6a3ce929d0e0e4736"
    upstream.add_fault(model="gpt-first", cut_after_chunks=3, times=1)
    with httpx.stream(
            "POST", proc.url + "/v1/chat/completions", timeout=20,
            headers={"Authorization": f"Bearer {key}",
                     "traceparent": f"00-{trace_id}-{PARENT_ID}-01"},
            json={"model": "traced", "stream": True,
                  "messages": [{"role": "user", "content": "tokens:12"}]}) as resp:
        body = resp.read().decode()
    assert resp.status_code == 200 and "[DONE]" in body
    server, (broken, resumed) = _by_kind(collector.trace(trace_id, 3))
    assert broken["attributes"]["error.type"]
    assert "gen_ai.first_token" in broken["events"]
    assert resumed["attributes"]["openai_proxy.fallback_reason"]
    assert resumed["name"] == "chat gpt-second"
    assert "error.type" not in resumed["attributes"]


@pytest.mark.timeout(90)
def test_content_only_when_enabled(tmp_path: Path, collector: Collector,
                                   upstream: FakeUpstream) -> None:
    env = _env(collector.url, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true")
    with ProxyProcess(tmp_path, env=env) as proc:
        key = _configure(proc, upstream)
        trace_id = "6bf92f3577b34da6a3ce929d0e0e4736"
        assert _chat(proc, key, trace_id).status_code == 200
        _, (served,) = _by_kind(collector.trace(trace_id, 2))
    assert "secret prompt" in served["attributes"]["gen_ai.input.messages"]
    assert served["attributes"]["gen_ai.output.messages"]


@pytest.mark.timeout(90)
def test_collector_down_leaves_requests_alone(tmp_path: Path, upstream: FakeUpstream) -> None:
    env = _env(f"http://127.0.0.1:{free_port()}", OTEL_EXPORTER_OTLP_TIMEOUT="1")
    with ProxyProcess(tmp_path, env=env) as proc:
        key = _configure(proc, upstream)
        started = time.monotonic()
        statuses = [_chat(proc, key, f"{i:032x}").status_code for i in range(1, 21)]
        elapsed = time.monotonic() - started
    assert statuses == [200] * 20
    assert elapsed < 10, f"20 requests took {elapsed:.1f} s with the collector down"
