"""Fixtures for scale-out tests: a fresh PostgreSQL database and a private redis-server
per test module (both dropped afterwards), and fake upstreams."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ratelimit.private_redis import PrivateRedis
from tests.services import scratch_database


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """``postgresql://.../test_scaleout_<random>``: created for this module, dropped after."""
    with scratch_database("test_scaleout") as url:
        yield url


@pytest.fixture(scope="module")
def redis_server() -> Iterator[PrivateRedis]:
    """A private redis-server (rate-limit keys are not prefixable per deployment, so a
    shared server would mix client key ids of concurrently running modules)."""
    with PrivateRedis() as server:
        yield server
