"""Logging: one JSON object per line, with the request id, and secrets masked.

``request_id_var`` carries the current request id into every log line written while
the request is handled. :class:`SecretFilter` masks registered secrets (provider keys,
client keys, passwords in URLs) in the message and in every extra field.
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

__all__ = ["JsonFormatter", "SecretFilter", "configure_logging", "request_id_var"]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]*):(?P<pw>[^@\s/]+)@", re.I)
_BEARER = re.compile(r"(?i)(bearer\s+|x-api-key['\"]?\s*[:=]\s*['\"]?)([A-Za-z0-9._\-]{8,})")
_KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,})")


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, mask_secret(secret))
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}:****@", text)
    text = _BEARER.sub(lambda m: m.group(1) + mask_secret(m.group(2)), text)
    return _KEYLIKE.sub(lambda m: mask_secret(m.group(1)), text)


class SecretFilter(logging.Filter):
    """Masks known secrets and anything that looks like a key, in every record."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: frozenset[str] = frozenset()

    def add(self, *secrets: str | None) -> None:
        self.secrets = self.secrets | {s for s in secrets if s and len(s) >= 8}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        if isinstance(record.msg, str):
            record.msg = _scrub(record.msg, self.secrets)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, _scrub(value, self.secrets))
        if record.exc_info and not record.exc_text:
            record.exc_text = _scrub(
                logging.Formatter().formatException(record.exc_info), self.secrets
            )
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            out["request_id"] = request_id
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                out[name] = value
        if record.exc_text:
            out["exception"] = record.exc_text
        elif record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure_logging(level: str, stream: Any = None) -> SecretFilter:
    """Install JSON logging on the root logger; returns the filter to register secrets."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    secret_filter = SecretFilter()
    handler.addFilter(secret_filter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return secret_filter
