"""What the deployment artefacts may rely on: the app's metric names, its environment
variables with their defaults, and where the artefacts live in the repository."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ALLOWED_SERIES",
    "APP_ENV_DEFAULTS",
    "COUNTERS",
    "GAUGES",
    "HISTOGRAMS",
    "REPO",
    "SECRET_ENV",
]

REPO = Path(__file__).resolve().parents[2]

COUNTERS = frozenset(
    {
        "proxy_requests_total",
        "proxy_provider_requests_total",
        "proxy_fallbacks_total",
        "proxy_supervisor_restarts_total",
        "proxy_rate_limited_total",
        "proxy_tokens_total",
        "proxy_audit_dropped_total",
        "proxy_stream_resumes_total",
        # proxy/metrics.py: Redis limit backend failed, in-process limits took over
        "proxy_ratelimit_backend_fallbacks_total",
        # proxy/metrics.py: the audit writer and retention
        "proxy_audit_records_total",
        "proxy_audit_payloads_total",
        "proxy_audit_pruned_total",
        # spend, cache, hedging, console
        "proxy_cost_usd_total",
        "proxy_budget_exceeded_total",
        "proxy_cache_requests_total",
        "proxy_hedges_total",
        "proxy_console_sign_in_failures_total",
    }
)
GAUGES = frozenset({
    "proxy_circuit_state", "proxy_inbox_depth", "proxy_provider_keys_healthy",
    "proxy_event_loop_tasks", "proxy_dependency_up",
})
HISTOGRAMS = frozenset({"proxy_request_duration_seconds", "proxy_time_to_first_byte_seconds"})

# Series names a query may select: a histogram exists only as its three series.
ALLOWED_SERIES = (
    COUNTERS
    | GAUGES
    | frozenset(
        f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")
    )
)

# Every variable the app reads, with its documented default ("" = unset by default).
APP_ENV_DEFAULTS: dict[str, str] = {
    "APP_NAME": "openai-proxy",
    "APP_HOST": "0.0.0.0",
    "APP_PORT": "8000",
    "APP_DEBUG": "false",
    "LOG_LEVEL": "INFO",
    "LOG_REQUESTS": "false",
    "AUDIT_ENABLED": "true",
    "APP_WORKERS": "1",
    "SHUTDOWN_TIMEOUT": "25",
    "DATA_DIR": "./data",
    "DATABASE_URL": "",
    "REDIS_URL": "",
    "S3_ENDPOINT_URL": "",
    "S3_ACCESS_KEY": "",
    "S3_SECRET_KEY": "",
    "S3_BUCKET": "openai-proxy-payloads",
    "S3_REGION": "us-east-1",
    "SECRET_KEY": "",
    "ENCRYPTION_KEY": "",
    "ADMIN_API_KEY": "",
    "RATE_LIMIT_GLOBAL_RPM": "0",
    "RATE_LIMIT_PER_KEY_RPM": "0",
    "RATE_LIMIT_PER_TENANT_RPM": "0",
    "RATE_LIMIT_PER_IP_RPM": "0",
    "TRUSTED_PROXIES": "",
    "MAX_REQUEST_BYTES": "10485760",
    "AUDIT_STORE_CONTENT": "false",
    "AUDIT_INLINE_MAX_BYTES": "16384",
    "AUDIT_RETENTION_DAYS": "30",
    "AUDIT_QUEUE_SIZE": "10000",
    "AUDIT_QUEUE_MAX_BYTES": "67108864",
    "RESPONSES_TTL_DAYS": "30",
    "CONFIG_POLL_INTERVAL": "1.0",
    "SHARE_CIRCUIT_STATE": "false",
    "OPENAI_API_KEY": "",
}

# Required with PostgreSQL: start-up stops without them.
SECRET_ENV = ("SECRET_KEY", "ENCRYPTION_KEY", "ADMIN_API_KEY")
