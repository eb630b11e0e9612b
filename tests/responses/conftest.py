"""One gateway for the Responses tests: `mock`, and fake `openai`, `anthropic` and `ollama`
upstreams, each behind its own alias; client keys of two tenants and a key without one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

UPSTREAM_KEY = "sk-upstream-responses-0001"
#: alias → provider type behind it
ALIASES = {"r-mock": "mock", "r-openai": "openai", "r-anthropic": "anthropic",
           "r-ollama": "ollama"}
#: aliases whose upstream answers "call tool" with a call to the first tool
TOOL_ALIASES = ["r-mock", "r-openai", "r-anthropic", "r-ollama"]


@dataclass
class Gateway:
    proc: ProxyProcess
    key: str
    other_tenant_key: str
    same_tenant_key: str
    fakes: dict[str, FakeUpstream]

    @property
    def url(self) -> str:
        return self.proc.url

    def client(self, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key or self.key, max_retries=0,
                             timeout=30)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp: Path = tmp_path_factory.mktemp("responses")
    with FakeUpstream("openai", keys={UPSTREAM_KEY}) as fo, \
            FakeUpstream("anthropic", keys={UPSTREAM_KEY}) as fa, \
            FakeUpstream("ollama") as fl, ProxyProcess(tmp) as proc:
        admin = proc.admin
        mock = admin.provider("mock", "mock")
        admin.mapping("r-mock", mock["id"], "gpt-4o-mini")
        ids = {}
        for alias, kind, fake in (("r-openai", "openai", fo), ("r-anthropic", "anthropic", fa),
                                  ("r-ollama", "ollama", fl)):
            keys = [UPSTREAM_KEY] if kind != "ollama" else []
            created = admin.provider(kind, kind, fake.base_url, keys=keys, max_retries=0)
            admin.mapping(alias, created["id"], f"{kind}-model")
            ids[kind] = created["id"]
        # a chain: openai first, then anthropic (which accepts a prefill when resuming)
        admin.mapping("r-chain", ids["openai"], "chain-openai", order=0)
        admin.mapping("r-chain", ids["anthropic"], "chain-anthropic", order=1,
                      supports_prefill=True)
        yield Gateway(
            proc=proc,
            key=admin.client_key("resp-a", tenant="team-a"),
            other_tenant_key=admin.client_key("resp-b", tenant="team-b"),
            same_tenant_key=admin.client_key("resp-a2", tenant="team-a"),
            fakes={"r-openai": fo, "r-anthropic": fa, "r-ollama": fl},
        )


@pytest.fixture
def client(gateway: Gateway) -> Iterator[openai.OpenAI]:
    with gateway.client() as c:
        yield c


@pytest.fixture
async def aclient(gateway: Gateway) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=gateway.key,
                                  max_retries=0, timeout=30) as c:
        yield c
