"""Real backing services for tests: PostgreSQL, Redis, S3 (moto).

On CI (``CI=true``) a missing service is a test failure; elsewhere the test is
skipped with the reason.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    """Fail (CI) or skip (laptop) when ``service`` is not listening."""
    if _reachable(host, port):
        return
    reason = f"{service} is not reachable on {host}:{port}"
    if on_ci():
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


def require_postgres() -> str:
    require("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_DSN


def require_redis() -> str:
    require("Redis", "127.0.0.1", 6379)
    return REDIS_URL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
