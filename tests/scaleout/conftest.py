"""Fixtures for scale-out tests: a fresh PostgreSQL database and a private redis-server
per test module (both dropped afterwards), and fake upstreams."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.ratelimit.private_redis import PrivateRedis
from tests.services import require_postgres


def _with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """``postgresql://.../test_<random>``: created for this module, dropped after it."""
    server = require_postgres()
    name = f"test_scaleout_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(server, name)
    finally:
        with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def redis_server() -> Iterator[PrivateRedis]:
    """A private redis-server (rate-limit keys are not prefixable per deployment, so a
    shared server would mix client key ids of concurrently running modules)."""
    with PrivateRedis() as server:
        yield server
