"""OpenTelemetry tracing, per the GenAI semantic conventions; off unless configured.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) set,
``start_tracing`` builds an SDK tracer provider that exports over OTLP/HTTP in batches
(every other ``OTEL_*`` variable is the SDK's own: service name, resource attributes,
headers, sampler, batch sizes). Unset, the SDK is never imported and a request pays one
``is None`` check.

Spans of one request:

* one server span (``POST /v1/chat/completions``), continuing an incoming
  ``traceparent``, with the HTTP and ``gen_ai.*`` request attributes;
* one client span per upstream attempt (``chat gpt-4o-mini``): retries, fallbacks,
  resumes and hedges each get their own, with ``gen_ai.provider.name``,
  ``gen_ai.request.model``, ``gen_ai.response.model``, ``gen_ai.usage.*``,
  ``server.address``/``server.port``, ``error.type``, the attempt number and the reason
  it was made; an event ``gen_ai.first_token`` marks the first content. Its
  ``traceparent`` goes upstream with the call.

Message content is recorded only with
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from supervisors.messages import Call, Result

__all__ = ["RequestTracing", "Tracing", "start_tracing", "tracing_configured"]

#: our ops as GenAI operation names
_OPERATIONS = {"chat": "chat", "messages": "chat", "completions": "text_completion",
               "embeddings": "embeddings", "count_tokens": "count_tokens"}
#: provider types as ``gen_ai.provider.name`` values (custom speaks OpenAI's API)
_PROVIDER_NAMES = {"custom": "openai"}


def tracing_configured(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
                or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip())


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


class Tracing:
    """The process's tracer, its exporter and the propagator; one per app."""

    def __init__(self, provider: TracerProvider, capture_content: bool) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._provider = provider
        self.tracer: Tracer = provider.get_tracer("openai-proxy")
        self.propagator = TraceContextTextMapPropagator()
        self.capture_content = capture_content
        # what every request uses, looked up once (not imported per call)
        self._server_kind = SpanKind.SERVER
        self.client_kind = SpanKind.CLIENT
        self.in_context = set_span_in_context
        self._status = Status
        self._error = StatusCode.ERROR
        #: a provider's base URL → its ``server.*`` attributes
        self._servers: dict[str, dict[str, Any]] = {}

    def request(self, method: str, route: str, headers: Mapping[str, str]) -> RequestTracing:
        parent = self.propagator.extract(carrier=headers)
        span = self.tracer.start_span(
            f"{method} {route}", context=parent, kind=self._server_kind,
            attributes={"http.request.method": method, "http.route": route})
        return RequestTracing(self, span)

    def server_of(self, base_url: str) -> dict[str, Any]:
        """``server.address`` and ``server.port`` of a base URL (parsed once)."""
        found = self._servers.get(base_url)
        if found is None:
            found = {}
            url = urlsplit(base_url) if base_url else None
            if url is not None and url.hostname:
                found["server.address"] = url.hostname
                found["server.port"] = url.port or (443 if url.scheme == "https" else 80)
            if len(self._servers) < 1000:
                self._servers[base_url] = found
        return found

    def fail(self, span: Span, error_type: str) -> None:
        span.set_attribute("error.type", error_type)
        span.set_status(self._status(self._error, error_type))
        span.end()

    def shutdown(self) -> None:
        """Flush what is queued (bounded by the exporter's own timeout) and stop."""
        self._provider.shutdown()


def start_tracing(service_name: str) -> Tracing | None:
    """The tracer when ``OTEL_EXPORTER_OTLP_*ENDPOINT`` is set, else None."""
    if not tracing_configured():
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    # the processor queues and exports from its own thread: a slow or dead collector
    # drops spans (bounded queue) and never holds up a request
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    capture = _truthy(os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"))
    return Tracing(provider, capture)


class RequestTracing:
    """The spans of one request: its server span and one client span per attempt.
    Attributes known only later are set together when the spans end (one call each)."""

    __slots__ = ("_attempts", "_model", "_served", "_tracing", "server")

    def __init__(self, tracing: Tracing, server: Span) -> None:
        self._tracing = tracing
        self.server = server
        self._attempts: dict[int, Span] = {}
        self._served: int | None = None
        self._model: str | None = None

    def request_model(self, model: str) -> None:
        self._model = model

    def attempt(self, call: Call, *, provider: str, provider_type: str, model: str,
                base_url: str, number: int, reason: str | None) -> None:
        """A client span for ``call`` (an upstream attempt); its ``traceparent`` is added
        to the headers the call forwards upstream."""
        tracing = self._tracing
        operation = _OPERATIONS.get(call.op, call.op)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": _PROVIDER_NAMES.get(provider_type, provider_type),
            "gen_ai.request.model": model,
            "openai_proxy.provider": provider,
            "openai_proxy.attempt": number,
            **tracing.server_of(base_url),
        }
        if reason:
            attributes["openai_proxy.fallback_reason"] = reason
        body = call.body
        for name, attr in _REQUEST_ATTRIBUTES:
            value = body.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attributes[attr] = value
        if tracing.capture_content:
            attributes["gen_ai.input.messages"] = _content(body)
        span = tracing.tracer.start_span(
            f"{operation} {model}", context=tracing.in_context(self.server),
            kind=tracing.client_kind, attributes=attributes)
        self._attempts[id(call)] = span
        carrier: dict[str, str] = dict(call.headers or {})
        tracing.propagator.inject(carrier, context=tracing.in_context(span))
        call.headers = carrier

    def failed(self, call: Call, error_type: str) -> None:
        span = self._attempts.pop(id(call), None)
        if span is not None:
            self._tracing.fail(span, error_type)

    def first_content(self, call: Call) -> None:
        """The attempt produced its first content (it may still lose a hedge)."""
        span = self._attempts.get(id(call))
        if span is not None:
            span.add_event("gen_ai.first_token")

    def served(self, call: Call) -> None:
        self._served = id(call)

    def answer(self, result: Result) -> None:
        if self._tracing.capture_content and self._served in self._attempts:
            choices = result.obj.get("choices") or result.obj.get("content")
            self._attempts[self._served].set_attribute(
                "gen_ai.output.messages", orjson.dumps(choices).decode())

    def streamed_text(self, text: str) -> None:
        if self._tracing.capture_content and self._served in self._attempts and text:
            self._attempts[self._served].set_attribute(
                "gen_ai.output.messages",
                orjson.dumps([{"role": "assistant", "content": text}]).decode())

    def finish(self, *, status: int, error: str | None, op: str | None,
               response_model: str | None, usage: dict[str, Any] | None) -> None:
        """End every open span: the serving attempt with the answer's model and usage,
        attempts that did not serve (hedge losers, broken streams) as cancelled."""
        fail = self._tracing.fail
        for key, span in self._attempts.items():
            if key == self._served and status < 400:
                served = _usage(usage)
                if response_model:
                    served["gen_ai.response.model"] = response_model
                if served:
                    span.set_attributes(served)
                span.end()
            elif key == self._served:
                fail(span, "client_disconnected" if status == 499 else "error")
            else:
                fail(span, "cancelled")
        self._attempts.clear()
        attributes = _usage(usage)
        attributes["http.response.status_code"] = status
        if self._model is not None:
            attributes["gen_ai.request.model"] = self._model
        if op is not None:
            attributes["gen_ai.operation.name"] = _OPERATIONS.get(op, op)
        if response_model:
            attributes["gen_ai.response.model"] = response_model
        server = self.server
        if status >= 500 or status == 499:
            server.set_attributes(attributes)
            fail(server, str(status) if status != 499 else "client_disconnected")
            return
        if error and status >= 400:
            attributes["error.type"] = str(status)
        server.set_attributes(attributes)
        server.end()


_REQUEST_ATTRIBUTES = (("temperature", "gen_ai.request.temperature"),
                       ("top_p", "gen_ai.request.top_p"),
                       ("max_tokens", "gen_ai.request.max_tokens"))


def _usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    """The ``gen_ai.usage.*`` attributes of a usage report."""
    out: dict[str, Any] = {}
    if not usage:
        return out
    for name, attr in (("prompt_tokens", "gen_ai.usage.input_tokens"),
                       ("completion_tokens", "gen_ai.usage.output_tokens")):
        value = usage.get(name)
        if isinstance(value, int):
            out[attr] = value
    return out


def _content(body: dict[str, Any]) -> str:
    for name in ("messages", "prompt", "input"):
        if name in body:
            return orjson.dumps(body[name]).decode()
    return "[]"
