"""Logging: one JSON object per line, with the request id, and secrets masked.

``request_id_var`` carries the current request id into every log line written while
the request is handled. :class:`SecretFilter` masks registered secrets (provider keys,
client keys, passwords in URLs) and anything key-shaped (``sk-…``, ``Bearer …``) in the
message, the traceback, the request id and every extra field, nested values included;
a masked secret shows only its last 4 characters (``****abcd``).

Each line: ``time``, ``level``, ``logger``, ``message``, ``request_id`` (when handling a
request) and the record's ``extra`` fields. :func:`log_request` writes the per-request
access line (logger ``proxy.access``) and costs nothing when INFO is disabled;
:func:`register_secrets` adds secrets learnt at run time (decrypted provider keys).
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any

import orjson

from supervisors.masking import mask_secret

__all__ = [
    "JsonFormatter",
    "SecretFilter",
    "configure_logging",
    "log_request",
    "register_secrets",
    "request_id_var",
]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]*):(?P<pw>[^@\s/]+)@", re.I)
_BEARER = re.compile(r"(?i)(bearer\s+|x-api-key['\"]?\s*[:=]\s*['\"]?)([A-Za-z0-9._\-]{8,})")
_QUIET = ("aiosqlite", "asyncpg", "botocore", "aiobotocore", "urllib3", "s3transfer",
          "aioprometheus", "hpack", "httpx", "httpcore")
_KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,})")


def _scrub(text: str, secrets: Iterable[str]) -> str:
    if len(text) < 8:  # no secret we register or recognise is that short
        return text
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, mask_secret(secret))
    # each pattern runs only when its cheap marker is present (most fields have none)
    if "@" in text:
        text = _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}:****@", text)
    lowered = text.lower()
    if "bearer" in lowered or "api-key" in lowered:
        text = _BEARER.sub(lambda m: m.group(1) + mask_secret(m.group(2)), text)
    if "sk-" in text:
        text = _KEYLIKE.sub(lambda m: mask_secret(m.group(1)), text)
    return text


class SecretFilter(logging.Filter):
    """Masks known secrets and anything that looks like a key, in every record."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: frozenset[str] = frozenset()

    def add(self, *secrets: str | None) -> None:
        self.secrets = self.secrets | {s for s in secrets if s and len(s) >= 8}

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self.secrets
        record.msg = _scrub(record.getMessage(), secrets)
        record.args = None
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        for name, value in list(vars(record).items()):
            if name not in _STANDARD:
                setattr(record, name, _scrub_value(value, secrets))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        if record.exc_text:
            record.exc_text = _scrub(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = _scrub(record.stack_info, secrets)
        return True


def _scrub_value(value: Any, secrets: Iterable[str], depth: int = 0) -> Any:
    """``value`` with secrets masked in every string inside it (dicts, lists, tuples)."""
    if isinstance(value, str):
        return _scrub(value, secrets)
    if depth > 4 or value is None or isinstance(value, int | float | bool):
        return value
    if isinstance(value, dict):
        return {_scrub(str(k), secrets): _scrub_value(v, secrets, depth + 1)
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub_value(v, secrets, depth + 1) for v in value]
    return _scrub(str(value), secrets)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self._service:
            out["service"] = self._service
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id is not None:
            out["request_id"] = request_id
        for name, value in vars(record).items():
            if name not in _STANDARD and name != "request_id" and not name.startswith("_"):
                out[name] = value
        if record.exc_text:
            out["exception"] = record.exc_text
        elif record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure_logging(level: str, stream: Any = None, service: str | None = None) -> SecretFilter:
    """Install JSON logging on the root logger (``service``: APP_NAME on every line);
    returns the filter to register secrets."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    secret_filter = SecretFilter()
    handler.addFilter(secret_filter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # third-party DEBUG output is noise at best and, at worst, SQL parameters (audit
    # bodies, key hashes) or signed S3 requests: keep them at WARNING whatever LOG_LEVEL says
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    return secret_filter


def register_secrets(*secrets: str | None) -> None:
    """Mask ``secrets`` from now on in every handler that :func:`configure_logging` set up."""
    for handler in logging.getLogger().handlers:
        for f in handler.filters:
            if isinstance(f, SecretFilter):
                f.add(*secrets)


def log_request(
    method: str,
    endpoint: str,
    status: int,
    latency_s: float,
    **fields: object,
) -> None:
    """One line per request (logger ``proxy.access``): INFO, or WARNING for a 5xx; builds
    nothing when that level is disabled. The handler calls it for every request when
    ``LOG_REQUESTS=true``, and for failed (5xx) requests always.

    ``fields``: e.g. ``client_key_id``, ``tenant``, ``alias``, ``provider``,
    ``upstream_model``, ``attempts``, ``stream``, ``tokens``; ``None`` values are left out.
    """
    access = logging.getLogger("proxy.access")
    level = logging.WARNING if status >= 500 else logging.INFO
    if not access.isEnabledFor(level):
        return
    extra: dict[str, object] = {"method": method, "endpoint": endpoint, "status": status,
                                "latency_ms": round(latency_s * 1000.0, 3)}
    for name, value in fields.items():
        if value is not None:
            extra[name if name not in _STANDARD else f"{name}_"] = value
    access.log(level, "request", extra=extra)
