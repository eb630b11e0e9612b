"""Settings: read once from the environment (and ``.env``), validated, frozen.

Invalid configuration raises :class:`ConfigError` with one line naming the variable;
the CLI prints it and exits 2.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["ConfigError", "Settings", "load_dotenv_file", "port_number"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


class ConfigError(ValueError):
    """One clear line naming the variable that is wrong."""


def load_dotenv_file(path: str | os.PathLike[str] = ".env") -> None:
    """Load ``.env`` into the environment without overriding variables already set."""
    if Path(path).is_file():
        from dotenv import load_dotenv

        load_dotenv(path, override=False)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def port_number(name: str, raw: object) -> int:
    """A TCP port, 1-65535 (``name`` is what the operator set: ``APP_PORT``, ``--port``)."""
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a port number (1-65535), got {raw!r}") from None
    if not 1 <= value <= 65535:
        raise ConfigError(f"{name} must be a port number (1-65535), got {value}")
    return value


def _database_url(env: Mapping[str, str], data_dir: Path) -> str:
    from urllib.parse import urlsplit

    from .store.urls import parse_database_url

    url = _str(env, "DATABASE_URL") or f"sqlite:///{data_dir / 'proxy.db'}"
    try:
        parsed = parse_database_url(url)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if parsed.dsn is not None:
        parts = urlsplit(parsed.dsn)
        if parts.path.strip("/") == "":
            raise ConfigError("DATABASE_URL: postgresql URL needs a database name, "
                              "postgresql://user:password@host:5432/dbname")
    return url


def _str(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    return raw.strip() if raw and raw.strip() else None


@dataclass(frozen=True, slots=True)
class Settings:
    app_name: str = "openai-proxy"
    host: str = "0.0.0.0"
    port: int = 8000
    debug: bool = False
    log_level: str = "INFO"
    log_requests: bool = False
    workers: int = 1
    shutdown_timeout: float = 25.0
    #: seconds a client may accept no data before it is disconnected (its upstream
    #: call cancelled): a client that stops reading never holds a worker or a provider
    slow_client_timeout: float = 30.0
    data_dir: Path = Path("data")
    database_url: str = "sqlite:///data/proxy.db"
    redis_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_bucket: str = "openai-proxy-payloads"
    s3_region: str = "us-east-1"
    secret_key: str | None = None
    encryption_key: str | None = None
    admin_api_key: str | None = None
    rate_limit_global_rpm: int = 0
    rate_limit_per_key_rpm: int = 0
    rate_limit_per_tenant_rpm: int = 0
    rate_limit_per_ip_rpm: int = 0
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    max_request_bytes: int = 10 * 1024 * 1024
    audit_enabled: bool = True
    audit_store_content: bool = False
    audit_inline_max_bytes: int = 16 * 1024
    audit_retention_days: int = 30
    audit_queue_size: int = 10_000
    audit_queue_max_bytes: int = 64 << 20
    responses_ttl_days: int = 30
    #: the console's session cookie only over HTTPS (set behind a TLS-terminating proxy)
    console_secure_cookie: bool = False
    config_poll_interval: float = 1.0
    share_circuit_state: bool = False
    #: the in-process response cache's bound (keys, values, bookkeeping), when no Redis
    cache_max_bytes: int = 64 * 1024 * 1024
    openai_api_key: str | None = field(default=None, repr=False)
    demo: bool = False

    def __repr__(self) -> str:  # never print secrets
        return f"Settings(app_name={self.app_name!r}, database={self.database_backend})"

    @property
    def database_backend(self) -> str:
        return "postgresql" if self.database_url.startswith(("postgres://", "postgresql")) else "sqlite"

    @property
    def s3_enabled(self) -> bool:
        return self.s3_endpoint_url is not None or self.s3_access_key is not None

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(_str(env, "DATA_DIR") or "data")
        database_url = _database_url(env, data_dir)
        redis_url = _str(env, "REDIS_URL")
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("REDIS_URL must start with redis://, rediss:// or unix://")
        level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
        if level not in _LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {sorted(_LOG_LEVELS)}, got {level!r}")
        encryption_key = _str(env, "ENCRYPTION_KEY")
        if encryption_key and any(e.strip() == "aws-kms:" for e in encryption_key.split(",")):
            raise ConfigError("ENCRYPTION_KEY: an aws-kms: entry needs a key id or ARN "
                              "(aws-kms:<key id or ARN>)")
        s3_endpoint = _str(env, "S3_ENDPOINT_URL")
        if s3_endpoint and not s3_endpoint.startswith(("http://", "https://")):
            raise ConfigError("S3_ENDPOINT_URL must be an http(s) URL")
        return cls(
            app_name=_str(env, "APP_NAME") or "openai-proxy",
            host=_str(env, "APP_HOST") or "0.0.0.0",
            port=port_number("APP_PORT", _str(env, "APP_PORT") or 8000),
            debug=_bool(env, "APP_DEBUG", False),
            log_level="DEBUG" if _bool(env, "APP_DEBUG", False) and "LOG_LEVEL" not in env else level,
            log_requests=_bool(env, "LOG_REQUESTS", False),
            workers=_int(env, "APP_WORKERS", 1, 1),
            shutdown_timeout=_float(env, "SHUTDOWN_TIMEOUT", 25.0),
            slow_client_timeout=_float(env, "SLOW_CLIENT_TIMEOUT", 30.0, 0.1),
            data_dir=data_dir,
            database_url=database_url,
            redis_url=redis_url,
            s3_endpoint_url=s3_endpoint,
            s3_access_key=_str(env, "S3_ACCESS_KEY"),
            s3_secret_key=_str(env, "S3_SECRET_KEY"),
            s3_bucket=_str(env, "S3_BUCKET") or "openai-proxy-payloads",
            s3_region=_str(env, "S3_REGION") or "us-east-1",
            secret_key=_str(env, "SECRET_KEY"),
            encryption_key=encryption_key,
            admin_api_key=_str(env, "ADMIN_API_KEY"),
            rate_limit_global_rpm=_int(env, "RATE_LIMIT_GLOBAL_RPM", 0),
            rate_limit_per_key_rpm=_int(env, "RATE_LIMIT_PER_KEY_RPM", 0),
            rate_limit_per_tenant_rpm=_int(env, "RATE_LIMIT_PER_TENANT_RPM", 0),
            rate_limit_per_ip_rpm=_int(env, "RATE_LIMIT_PER_IP_RPM", 0),
            trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
            max_request_bytes=_int(env, "MAX_REQUEST_BYTES", 10 * 1024 * 1024, 1024),
            audit_enabled=_bool(env, "AUDIT_ENABLED", True),
            audit_store_content=_bool(env, "AUDIT_STORE_CONTENT", False),
            audit_inline_max_bytes=_int(env, "AUDIT_INLINE_MAX_BYTES", 16 * 1024),
            audit_retention_days=_int(env, "AUDIT_RETENTION_DAYS", 30),
            audit_queue_size=_int(env, "AUDIT_QUEUE_SIZE", 10_000, 1),
            audit_queue_max_bytes=_int(env, "AUDIT_QUEUE_MAX_BYTES", 64 << 20, 1 << 20),
            responses_ttl_days=_int(env, "RESPONSES_TTL_DAYS", 30, 1),
            console_secure_cookie=_bool(env, "CONSOLE_SECURE_COOKIE", False),
            config_poll_interval=_float(env, "CONFIG_POLL_INTERVAL", 1.0, 0.05),
            share_circuit_state=_bool(env, "SHARE_CIRCUIT_STATE", False),
            cache_max_bytes=_int(env, "CACHE_MAX_BYTES", 64 * 1024 * 1024),
            openai_api_key=_str(env, "OPENAI_API_KEY"),
        )


def _networks(
    env: Mapping[str, str], name: str
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    raw = _str(env, name)
    if not raw:
        return ()
    out = []
    for part in raw.split(","):
        try:
            out.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"{name} must be comma-separated IPs or CIDRs, got {part!r}") from None
    return tuple(out)
