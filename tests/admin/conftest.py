"""The admin API against the real server over HTTP, on both stores.

Every test gets a running app (``proxy.app.build_app``) behind aiohttp's test server on
127.0.0.1, parametrised over SQLite (a file in ``tmp_path``) and PostgreSQL (one fresh
database per test module, created with asyncpg and dropped afterwards; its tables are
emptied before each test).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aioprometheus.collectors import get_registry

from proxy.app import build_app
from proxy.config import Settings
from proxy.crypto import generate_fernet_key
from tests.services import scratch_database

ADMIN_KEY = "admin-bootstrap-key-for-tests-0123456789"
SECRET_KEY = "hmac-secret-for-admin-tests-0123456789"
BACKENDS = ["sqlite", "postgresql"]
_TABLES = ("audit_log, model_mappings, provider_keys, providers, api_keys, tenants, spend, "
           "usage_daily, "
           "usage_hourly")
NO_BODY = object()


@pytest.fixture(scope="module")
def pg_module_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test module, dropped afterwards."""
    with scratch_database("test_admin") as url:
        yield url


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'proxy.db'}"
    url = str(request.getfixturevalue("pg_module_url"))
    conn = await asyncpg.connect(url, timeout=10)
    try:
        if await conn.fetchval("SELECT to_regclass('public.providers') IS NOT NULL"):
            await conn.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE", timeout=30)
    finally:
        await conn.close(timeout=10)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key=SECRET_KEY,
        encryption_key=generate_fernet_key(),
        admin_api_key=ADMIN_KEY,
        config_poll_interval=0.2,
    )


@dataclass(slots=True)
class Reply:
    status: int
    text: str
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        return orjson.loads(self.text)

    def error(self, status: int, *, param: str | None = None) -> dict[str, Any]:
        """Assert an OpenAI-shaped error with this status (and ``param``); return it."""
        assert self.status == status, (self.status, self.text)
        body = self.json
        assert set(body) == {"error"}, body
        err = body["error"]
        assert set(err) == {"message", "type", "param", "code"}, err
        assert isinstance(err["message"], str) and err["message"]
        if param is not None:
            assert err["param"] == param, err
        return dict(err)


@dataclass(slots=True)
class Api:
    """A client of the running server; every response text is kept (for secret checks)."""

    client: TestClient
    seen: list[str] = field(default_factory=list)

    async def call(
        self, method: str, path: str, body: Any = NO_BODY, *, key: str | None = ADMIN_KEY,
        raw: bytes | None = None, params: dict[str, str] | None = None,
    ) -> Reply:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        data = raw if raw is not None else (None if body is NO_BODY else orjson.dumps(body))
        if data is not None:
            headers["Content-Type"] = "application/json"
        async with self.client.request(method, path, data=data, headers=headers,
                                       params=params) as resp:
            text = await resp.text()
        self.seen.append(text)
        return Reply(resp.status, text, dict(resp.headers))

    async def ok(self, method: str, path: str, body: Any = NO_BODY, *,
                 status: int = 200, **kw: Any) -> Any:
        reply = await self.call(method, path, body, **kw)
        assert reply.status == status, (method, path, reply.status, reply.text)
        return reply.json

    # -- builders -------------------------------------------------------------------
    async def provider(self, name: str = "mock-a", **fields: Any) -> dict[str, Any]:
        body = {"name": name, "provider_type": "mock", **fields}
        return dict(await self.ok("POST", "/admin/providers", body, status=201))

    async def mapping(self, alias: str, provider_id: int, **fields: Any) -> dict[str, Any]:
        body = {"alias_name": alias, "provider_id": provider_id,
                "provider_model_name": fields.pop("model", f"{alias}-upstream"), **fields}
        return dict(await self.ok("POST", "/admin/mappings", body, status=201))

    async def client_key(self, name: str = "client", **fields: Any) -> dict[str, Any]:
        return dict(await self.ok("POST", "/admin/api-keys", {"name": name, **fields},
                                  status=201))

    async def provider_key(self, provider_id: int, key: str, name: str = "k") -> dict[str, Any]:
        body = {"provider_id": provider_id, "name": name, "key": key}
        return dict(await self.ok("POST", "/admin/keys", body, status=201))

    async def chat(self, model: str, key: str) -> Reply:
        body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
        return await self.call("POST", "/v1/chat/completions", body, key=key)


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Api]:
    """Run the whole app (all lifecycle contexts) on 127.0.0.1 until the block ends."""
    # proxy.metrics.Metrics also registers every collector in aioprometheus' process-wide
    # default registry, so a second app in one process would clash; start it empty.
    get_registry().clear()
    async with TestClient(TestServer(build_app(settings), host="127.0.0.1")) as client:
        yield Api(client)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as running:
        yield running
