"""End-to-end fixtures: the real gateway as a subprocess, fake upstreams, official SDKs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

UPSTREAM_KEY = "sk-upstream-test-key-aaaa1111"


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys={UPSTREAM_KEY}) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream
            ) -> Iterator[ProxyProcess]:
    """One server for the module: `mock` and a fake `openai` provider behind aliases."""
    tmp: Path = tmp_path_factory.mktemp("gateway")
    with ProxyProcess(tmp) as proc:
        admin = proc.admin
        mock = admin.provider("mock", "mock")
        admin.mapping("gpt-3.5-turbo", mock["id"], "gpt-3.5-turbo", is_default=False)
        admin.mapping("text-embedding-3-small", mock["id"], "text-embedding-3-small")
        up = admin.provider("fake", "openai", fake_openai.base_url, keys=[UPSTREAM_KEY],
                            max_retries=0)
        admin.mapping("fake-gpt", up["id"], "gpt-4o-mini")
        admin.mapping("fake-embed", up["id"], "text-embedding-3-small")
        proc.client_key_value = admin.client_key("e2e", tenant="t1")  # type: ignore[attr-defined]
        yield proc


@pytest.fixture
def fake(fake_openai: FakeUpstream) -> Iterator[FakeUpstream]:
    fake_openai.clear_faults()
    fake_openai.reset_stats()
    yield fake_openai
    fake_openai.clear_faults()


@pytest.fixture
def client(gateway: ProxyProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=gateway.client_key_value,  # type: ignore[attr-defined]
                       max_retries=0, timeout=20) as c:
        yield c


@pytest.fixture
async def aclient(gateway: ProxyProcess):  # type: ignore[no-untyped-def]
    async with openai.AsyncOpenAI(base_url=gateway.url + "/v1",
                                  api_key=gateway.client_key_value,  # type: ignore[attr-defined]
                                  max_retries=0, timeout=20) as c:
        yield c
