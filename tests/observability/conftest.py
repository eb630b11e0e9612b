"""Fixtures for the observability tests: configuration seeded straight into the store
(the way ``proxy/demo.py`` does), the real server as a subprocess, moto's S3 server,
and a small Prometheus text parser."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from moto.server import ThreadedMotoServer

from proxy.crypto import KeyRing, client_key_prefix, generate_fernet_key, hash_client_key, key_last4
from proxy.store import AuditFilter, AuditRecord, apply_migrations, open_store
from tests.harness import ProxyProcess
from tests.services import free_port

T = TypeVar("T")

SECRET_KEY = "test-secret-key-for-hmac-0123456789"  # what tests.harness.ProxyProcess sets


@dataclass
class ProviderSeed:
    name: str
    provider_type: str = "mock"
    base_url: str = "mock://"
    keys: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    #: (alias, upstream model, order_index)
    aliases: tuple[tuple[str, str, int], ...] = ()


@dataclass
class Seeded:
    env: dict[str, str]
    database_url: str
    client_keys: dict[str, str]  # name -> plaintext


async def _seed(tmp: Path, providers: list[ProviderSeed],
                client_keys: dict[str, dict[str, Any]]) -> Seeded:
    (tmp / "data").mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{tmp / 'data' / 'proxy.db'}"
    encryption_key = generate_fernet_key()
    keyring = KeyRing.parse(encryption_key)
    await asyncio.to_thread(apply_migrations, database_url)
    store = await open_store(database_url)
    plaintexts: dict[str, str] = {}
    try:
        for p in providers:
            row = await store.create_provider(name=p.name, provider_type=p.provider_type,
                                              base_url=p.base_url, config=p.config, enabled=True)
            for i, key in enumerate(p.keys):
                await store.create_provider_key(provider_id=row.id, name=f"{p.name}-{i}",
                                                key_encrypted=keyring.encrypt(key),
                                                key_last4=key_last4(key))
            for alias, model, order in p.aliases:
                await store.create_mapping(alias_name=alias, provider_id=row.id,
                                           provider_model_name=model, order_index=order,
                                           is_default=False, config={})
        for name, fields in client_keys.items():
            plaintext = f"sk-proxy-{name}-{uuid.uuid4().hex}"
            await store.create_api_key(
                name=name, key_hash=hash_client_key(SECRET_KEY, plaintext),
                key_prefix=client_key_prefix(plaintext), tenant=fields.get("tenant"),
                is_admin=bool(fields.get("is_admin", False)), rpm_limit=fields.get("rpm_limit"),
                tpm_limit=None, allowed_models=None, expires_at=None,
            )
            plaintexts[name] = plaintext
    finally:
        await store.aclose()
    env = {"DATABASE_URL": database_url, "ENCRYPTION_KEY": encryption_key,
           "SECRET_KEY": SECRET_KEY}
    return Seeded(env=env, database_url=database_url, client_keys=plaintexts)


async def fetch_audit(database_url: str, limit: int = 100_000) -> list[AuditRecord]:
    store = await open_store(database_url)
    try:
        return await store.list_audit(limit=limit, after_id=None, filters=AuditFilter())
    finally:
        await store.aclose()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh loop in a helper thread (callable from sync
    code and from inside a running loop alike)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


def read_audit(database_url: str, limit: int = 100_000) -> list[AuditRecord]:
    return run_sync(fetch_audit(database_url, limit))


StartProxy = Callable[..., tuple[ProxyProcess, Seeded]]


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[StartProxy]:
    """``start_proxy(providers, env={...}, client_keys={...})`` → (running proxy, seed)."""
    started: list[ProxyProcess] = []

    def start(providers: list[ProviderSeed], *, env: dict[str, str] | None = None,
              client_keys: dict[str, dict[str, Any]] | None = None) -> tuple[ProxyProcess, Seeded]:
        seeded = run_sync(_seed(tmp_path, providers, client_keys or {"client": {}}))
        proxy = ProxyProcess(tmp_path, env={**seeded.env, **(env or {})})
        started.append(proxy)
        proxy.start()
        return proxy, seeded

    yield start
    for proxy in started:
        proxy.stop()


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``within`` s."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


async def eventually(predicate: Callable[[], Any], within: float = 10.0,
                     interval: float = 0.0) -> None:
    """Poll ``predicate`` (sync or async) on the loop until truthy; fail after ``within`` s."""
    async with asyncio.timeout(within):
        while True:
            result = predicate()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(interval)


def admin_audit(proxy: ProxyProcess, token: str) -> list[dict[str, Any]]:
    """Every record from ``GET /admin/audit``, page by page (``after_id``)."""
    out: list[dict[str, Any]] = []
    after: int | None = None
    with httpx.Client(base_url=proxy.url, timeout=10.0,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        while True:
            params: dict[str, Any] = {"limit": 500}
            if after is not None:
                params["after_id"] = after
            resp = http.get("/admin/audit", params=params)
            assert resp.status_code == 200, resp.text
            page = resp.json()["data"]
            if not page:
                return out
            out.extend(page)
            after = int(page[-1]["id"])


# -- S3 (moto) -----------------------------------------------------------------------------


@dataclass
class MotoS3:
    url: str
    server: ThreadedMotoServer
    running: bool = True

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.server.stop()

    def env(self, bucket: str) -> dict[str, str]:
        return {"S3_ENDPOINT_URL": self.url, "S3_ACCESS_KEY": "test-access",
                "S3_SECRET_KEY": "test-secret-s3-0123456789", "S3_BUCKET": bucket,
                "S3_REGION": "us-east-1"}


@pytest.fixture
def moto_s3() -> Iterator[MotoS3]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    s3 = MotoS3(url=f"http://127.0.0.1:{port}", server=server)
    try:
        yield s3
    finally:
        s3.stop()


def bucket_name() -> str:
    """Moto's backend is process-wide: every test gets its own bucket."""
    return f"payloads-{uuid.uuid4().hex[:12]}"


# -- Prometheus text ------------------------------------------------------------------------

_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)')
_LABEL = re.compile(r'(?P<k>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<v>(?:[^"\\]|\\.)*)"')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_prometheus(text: str) -> Samples:
    out: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"unparseable metrics line: {line!r}"
        labels = frozenset((lm["k"], lm["v"]) for lm in _LABEL.finditer(m["labels"] or ""))
        out[(m["name"], labels)] = float(m["value"])
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample with exactly these labels (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over every sample of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)
