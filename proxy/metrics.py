"""Every metric the gateway exposes, defined in one place (one registry per app).

Gauges that describe supervisor state (circuit, inbox depth, key health) are read from
the supervisors when ``/metrics`` is scraped, so the hot path never touches them.
Label cardinality is bounded: ``endpoint`` is the route template, and model labels are
limited to configured aliases and upstream models (anything else becomes ``other``).
"""

from __future__ import annotations

import asyncio

from aioprometheus import Counter, Gauge, Histogram, Registry
from aioprometheus.renderer import render

from supervisors.root import RootSupervisor
from supervisors.spec import ProviderConfig

from .fastmetrics import FastCounter, FastHistogram

__all__ = ["Metrics"]

#: up to the longest answer a provider allows by default (``ProviderConfig.timeout``,
#: 600 s), so that a p99 of minutes is measured rather than clipped at the last bucket
_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0, ProviderConfig().timeout, float("inf"),
)


class Metrics:
    def __init__(self) -> None:
        # every collector goes into this app's registry, never aioprometheus' global one
        # (which refuses a second ``Metrics`` in the same process)
        self.registry = reg = Registry()
        self.requests = Counter(
            "proxy_requests_total", "HTTP requests by method, route template and status",
            registry=reg,
        )
        self.duration = Histogram(
            "proxy_request_duration_seconds", "HTTP request duration",
            buckets=_LATENCY_BUCKETS, registry=reg,
        )
        self.provider_requests = Counter(
            "proxy_provider_requests_total", "Upstream attempts by provider, model and outcome",
            registry=reg,
        )
        self.fallbacks = Counter(
            "proxy_fallbacks_total", "Moves to the next chain entry, by alias and reason",
            registry=reg,
        )
        self.circuit_state = Gauge(
            "proxy_circuit_state", "Circuit state per provider (0 closed, 1 open, 2 half-open)",
            registry=reg,
        )
        self.inbox_depth = Gauge(
            "proxy_inbox_depth", "Calls waiting in a provider's inbox", registry=reg
        )
        self.restarts = Counter(
            "proxy_supervisor_restarts_total", "Provider worker restarts", registry=reg
        )
        self.rate_limited = Counter(
            "proxy_rate_limited_total", "Requests refused, by scope", registry=reg
        )
        self.console_sign_in_failures = Counter(
            "proxy_console_sign_in_failures_total",
            "Web console sign-ins refused (wrong or non-admin credential)", registry=reg
        )
        self.tokens = Counter(
            "proxy_tokens_total", "Tokens by provider, model and kind", registry=reg
        )
        self.cost = Counter(
            "proxy_cost_usd_total", "Cost of answered requests in USD, by provider and model",
            registry=reg,
        )
        self.budget_refused = Counter(
            "proxy_budget_exceeded_total", "Requests refused because a budget would overshoot",
            registry=reg,
        )
        self.ttfb = Histogram(
            "proxy_time_to_first_byte_seconds",
            "Time from request to the first byte sent to the client",
            buckets=_LATENCY_BUCKETS, registry=reg,
        )
        self.keys_healthy = Gauge(
            "proxy_provider_keys_healthy", "Healthy upstream keys per provider", registry=reg
        )
        self.audit_dropped = Counter(
            "proxy_audit_dropped_total", "Audit records dropped because the queue was full",
            registry=reg,
        )
        self.stream_resumes = Counter(
            "proxy_stream_resumes_total", "Broken streams resumed on another provider",
            registry=reg,
        )
        self.loop_tasks = Gauge(
            "proxy_event_loop_tasks", "Tasks alive on the event loop (a leak shows here)",
            registry=reg,
        )
        self.dependency_up = Gauge(
            "proxy_dependency_up",
            "1 while an optional dependency (redis, payload_store) works, 0 while degraded "
            "(requests are still served: limits fail open, audit bodies are skipped)",
            registry=reg,
        )
        self.ratelimit_fallback = Counter(
            "proxy_ratelimit_backend_fallbacks_total",
            "Times the shared rate-limit backend failed and the in-process one took over",
            registry=reg,
        )
        self.audit_records = Counter(
            "proxy_audit_records_total", "Audit records by outcome (written, failed)",
            registry=reg,
        )
        self.audit_payloads = Counter(
            "proxy_audit_payloads_total",
            "Large audit bodies sent to the payload store, by kind and outcome "
            "(stored, failed, skipped while the store is failing)",
            registry=reg,
        )
        self.audit_pruned = Counter(
            "proxy_audit_pruned_total",
            "Audit retention: payload objects deleted, or not (kind payloads, payload_errors)",
            registry=reg,
        )
        self.hedges = Counter(
            "proxy_hedges_total",
            "Hedged calls by alias and outcome (won: the next candidate served; lost: the "
            "hedged call served after all; not_needed: it answered within hedge_after_ms)",
            registry=reg,
        )
        self.cache_requests = Counter(
            "proxy_cache_requests_total",
            "Requests to routes with the response cache on, by result (hit, miss, bypass)",
            registry=reg,
        )
        self.known_models: frozenset[str] = frozenset()
        # hot-path views, copied into the collectors above at scrape time
        self.fast_requests = FastCounter(self.requests, ("method", "endpoint", "status"))
        self.fast_duration = FastHistogram(self.duration, ("method", "endpoint"))
        self.fast_provider = FastCounter(self.provider_requests, ("provider", "model", "status"))
        self.fast_tokens = FastCounter(self.tokens, ("provider", "model", "kind"))
        self.fast_ttfb = FastHistogram(self.ttfb, ("provider",))
        self.fast_hedges = FastCounter(self.hedges, ("model", "outcome"))
        self.fast_cache = FastCounter(self.cache_requests, ("result",))
        self.fast_cost = FastCounter(self.cost, ("provider", "model"), scale=1e-9)
        for result in ("hit", "miss", "bypass"):  # every documented series from the start
            self.fast_cache.add((result,), 0)
        for scope in ("global", "tenant", "key", "ip"):
            self.rate_limited.set({"scope": scope}, 0)
        self._fast = (self.fast_requests, self.fast_duration, self.fast_provider,
                      self.fast_tokens, self.fast_ttfb, self.fast_hedges, self.fast_cache,
                      self.fast_cost)

    # -- supervisors.provider.Observer ----------------------------------------------------

    def provider_result(self, provider: str, model: str, outcome: str) -> None:
        self.fast_provider.add((provider, self.model_label(model), outcome))

    def request_done(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        self.fast_duration.observe((method, endpoint), seconds)
        self.fast_requests.add((method, endpoint, str(status)))

    def first_byte(self, provider: str, seconds: float) -> None:
        self.fast_ttfb.observe((provider,), seconds)

    def worker_restarted(self, provider: str) -> None:
        self.restarts.inc({"provider": provider})

    # -- helpers ----------------------------------------------------------------------------

    def model_label(self, model: str | None) -> str:
        return model if model in self.known_models else "other"

    def fallback(self, alias: str, reason: str) -> None:
        self.fallbacks.inc({"model": self.model_label(alias), "reason": reason})

    def hedge(self, alias: str, outcome: str) -> None:
        self.fast_hedges.add((self.model_label(alias), outcome))

    def cache_result(self, result: str) -> None:
        self.fast_cache.add((result,))

    def count_tokens(self, provider: str, model: str, usage: dict[str, object]) -> None:
        label = self.model_label(model)
        for kind in ("prompt_tokens", "completion_tokens"):
            value = usage.get(kind)
            if isinstance(value, int) and value > 0:
                self.fast_tokens.add((provider, label, kind[:-7]), value)

    def count_cost(self, provider: str, model: str, nanos: int) -> None:
        self.fast_cost.add((provider, self.model_label(model)), nanos)

    def render(self, root: RootSupervisor, accept: list[str]) -> tuple[bytes, dict[str, str]]:
        for sup in root.providers():
            labels = {"provider": sup.name}
            self.circuit_state.set(labels, int(sup.circuit_state))
            self.inbox_depth.set(labels, sup.inbox.qsize())
            self.keys_healthy.set(labels, sup.pool.healthy_count)
            try:
                self.restarts.get_value(labels)
            except KeyError:
                self.restarts.set(labels, 0)  # a provider's series exists before its 1st restart
        self.loop_tasks.set({}, len(asyncio.all_tasks()))
        for fast in self._fast:
            fast.sync()
        body, headers = render(self.registry, accept)
        return body, headers
