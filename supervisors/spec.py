"""What a provider is: its validated, frozen configuration.

``ProviderConfig.from_dict`` is the single place where the ``config`` object of
``/admin/providers`` is validated; it raises ``ValueError`` naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

__all__ = ["PROVIDER_TYPES", "ProviderConfig", "ProviderSpec", "validate_base_url"]

PROVIDER_TYPES = frozenset({"openai", "anthropic", "ollama", "custom", "mock"})

_EMPTY: Mapping[str, str] = MappingProxyType({})
#: float settings for which 0 makes sense (max_retry_wait 0: never wait on a Retry-After)
_ZERO_ALLOWED = frozenset({"max_retry_wait"})


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    timeout: float = 600.0
    connect_timeout: float = 10.0
    first_token_timeout: float = 60.0
    idle_timeout: float = 60.0
    max_retries: int = 2
    #: seconds: a Retry-After up to this is waited out on this provider (when it fits the
    #: request's budget); a longer one moves on to the next chain entry at once
    max_retry_wait: float = 5.0
    max_concurrency: int = 1024
    queue_size: int = 1024
    #: a worker idle this long is retired (workers start on demand)
    worker_idle_timeout: float = 30.0
    failure_threshold: int = 5
    recovery_timeout: float = 30.0
    stream_resume: bool = True
    supports_prefill: bool = False
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: provider-type specific settings (e.g. mock latency, anthropic_version)
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> ProviderConfig:
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ValueError("config must be an object")
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, value in raw.items():
            if name not in known or name == "extra":
                extra[name] = value
                continue
            values[name] = _coerce(name, known[name].type, value)
        if isinstance(raw.get("extra"), Mapping):
            extra.update(raw["extra"])
        values["extra"] = MappingProxyType(extra)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra":
                out.update(value)
            elif f.name == "headers":
                out[f.name] = dict(value)
            else:
                out[f.name] = value
        return out


def _coerce(name: str, annotation: Any, value: Any) -> Any:
    kind = str(annotation)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"config.{name} must be a boolean")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"config.{name} must be an integer")
        low = 1 if name in ("max_concurrency", "queue_size") else 0
        if value < low:
            raise ValueError(f"config.{name} must be >= {low}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"config.{name} must be a number")
        if not math.isfinite(value):
            raise ValueError(f"config.{name} must be a finite number")
        if name in _ZERO_ALLOWED:
            if value < 0:
                raise ValueError(f"config.{name} must be >= 0")
        elif value <= 0:
            raise ValueError(f"config.{name} must be > 0")
        return float(value)
    # headers
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and "\n" not in k + v and "\r" not in k + v
        for k, v in value.items()
    ):
        raise ValueError(f"config.{name} must be an object of string header values")
    return MappingProxyType(dict(value))


def validate_base_url(provider_type: str, base_url: str) -> str:
    """Return the normalised base URL or raise ``ValueError``."""
    if provider_type == "mock":
        return base_url or "mock://"
    if not isinstance(base_url, str) or not base_url:
        raise ValueError("base_url is required")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("base_url must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise ValueError("base_url must not contain credentials")
    if parts.query or parts.fragment:
        raise ValueError("base_url must not contain a query or fragment")
    return base_url.rstrip("/")


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    id: int
    name: str
    type: str
    base_url: str
    config: ProviderConfig = field(default_factory=ProviderConfig)
    enabled: bool = True
    #: (id, name, secret[, version]) of each upstream key, already decrypted; see
    #: ``supervisors.keypool.KeyEntry``
    keys: tuple[tuple[int | str, str, str] | tuple[int | str, str, str, str], ...] = ()
    #: why the provider cannot be used as configured (e.g. keys that cannot be decrypted)
    misconfigured: str | None = None
    #: refuse every call at once (``Unavailable``, the chain moves on): calling the
    #: upstream would send it no credential
    refuse_calls: bool = False
