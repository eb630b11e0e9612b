"""Fixtures for the provider tests: one real gateway (subprocess) in front of three fake
upstreams (OpenAI, Anthropic, Ollama), configured through the admin API, driven with
the official ``openai`` SDK.

Providers and aliases (all with ``max_retries: 0`` unless said, and a circuit breaker
that never opens, so every test sees the same attempts):

    claude        anthropic  claude-sonnet-4-5           (no mapping config)
    claude-mt     anthropic  claude-haiku-4-5            {max_tokens: 77, temperature: 0.2}
    claude-short  anthropic  claude-haiku-4-5            provider default_max_tokens: 64
    claude-rl     anthropic  claude-sonnet-4-5           (its one key gets rate limited)
    llama         ollama     llama3.2                    provider options {num_ctx: 4096}
    nomic         ollama     nomic-embed-text
    oai           openai     gpt-4o-mini
    gpt-4         chain-openai (max_retries 1) gpt-4o    {temperature: 0.3, user: hop-openai}
                  chain-claude claude-sonnet-4-5         {max_tokens: 50, temperature: 0.5}
                  chain-llama  llama3.2                  {top_p: 0.9, seed: 7}
    embed-chain   chain-openai text-embedding-3-small, chain-llama nomic-embed-text
    embed-claude  chain-claude claude-sonnet-4-5
    embed-skip    chain-claude claude-sonnet-4-5, chain-llama nomic-embed-text
    embed-outage  chain-openai text-embedding-3-small, chain-claude claude-sonnet-4-5
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

ANTHROPIC_KEY = "sk-ant-test-key-bbbb2222"
OPENAI_KEY = "sk-upstream-test-key-cccc3333"
NEVER_OPEN = 100_000  # failure_threshold: keep circuits closed whatever the tests do


@pytest.fixture(scope="session")
def fake_anthropic() -> Iterator[FakeUpstream]:
    with FakeUpstream("anthropic", keys={ANTHROPIC_KEY}) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_ollama() -> Iterator[FakeUpstream]:
    with FakeUpstream("ollama") as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys={OPENAI_KEY}) as fake:
        yield fake


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory, fake_anthropic: FakeUpstream,
            fake_ollama: FakeUpstream, fake_openai: FakeUpstream) -> Iterator[ProxyProcess]:
    tmp: Path = tmp_path_factory.mktemp("providers")
    with ProxyProcess(tmp) as proc:
        admin = proc.admin
        common: dict[str, Any] = {"max_retries": 0, "failure_threshold": NEVER_OPEN}
        claude = admin.provider("claude", "anthropic", fake_anthropic.base_url,
                                keys=[ANTHROPIC_KEY], **common)
        admin.mapping("claude", claude["id"], "claude-sonnet-4-5")
        admin.mapping("claude-mt", claude["id"], "claude-haiku-4-5", max_tokens=77,
                      temperature=0.2)
        short = admin.provider("claude-short", "anthropic", fake_anthropic.base_url,
                               keys=[ANTHROPIC_KEY], default_max_tokens=64, **common)
        admin.mapping("claude-short", short["id"], "claude-haiku-4-5")
        limited = admin.provider("claude-rl", "anthropic", fake_anthropic.base_url,
                                 keys=[ANTHROPIC_KEY], **common)
        admin.mapping("claude-rl", limited["id"], "claude-sonnet-4-5")
        llama = admin.provider("llama", "ollama", fake_ollama.base_url,
                               options={"num_ctx": 4096}, **common)
        admin.mapping("llama", llama["id"], "llama3.2")
        admin.mapping("nomic", llama["id"], "nomic-embed-text")
        oai = admin.provider("oai", "openai", fake_openai.base_url, keys=[OPENAI_KEY], **common)
        admin.mapping("oai", oai["id"], "gpt-4o-mini")

        c_openai = admin.provider("chain-openai", "openai", fake_openai.base_url,
                                  keys=[OPENAI_KEY], max_retries=1,
                                  failure_threshold=NEVER_OPEN)
        c_claude = admin.provider("chain-claude", "anthropic", fake_anthropic.base_url,
                                  keys=[ANTHROPIC_KEY], **common)
        c_llama = admin.provider("chain-llama", "ollama", fake_ollama.base_url, **common)
        admin.mapping("gpt-4", c_openai["id"], "gpt-4o", order=0, temperature=0.3,
                      user="hop-openai")
        admin.mapping("gpt-4", c_claude["id"], "claude-sonnet-4-5", order=1, max_tokens=50,
                      temperature=0.5)
        admin.mapping("gpt-4", c_llama["id"], "llama3.2", order=2, top_p=0.9, seed=7)
        admin.mapping("embed-chain", c_openai["id"], "text-embedding-3-small", order=0)
        admin.mapping("embed-chain", c_llama["id"], "nomic-embed-text", order=1)
        admin.mapping("embed-claude", c_claude["id"], "claude-sonnet-4-5")
        admin.mapping("embed-skip", c_claude["id"], "claude-sonnet-4-5", order=0)
        admin.mapping("embed-skip", c_llama["id"], "nomic-embed-text", order=1)
        admin.mapping("embed-outage", c_openai["id"], "text-embedding-3-small", order=0)
        admin.mapping("embed-outage", c_claude["id"], "claude-sonnet-4-5", order=1)
        proc.client_key_value = admin.client_key("providers", tenant="t-prov")  # type: ignore[attr-defined]
        yield proc


@pytest.fixture
def fakes(fake_anthropic: FakeUpstream, fake_ollama: FakeUpstream,
          fake_openai: FakeUpstream) -> Iterator[dict[str, FakeUpstream]]:
    """All three fakes with no faults and no recorded requests; faults cleared after."""
    every = {"anthropic": fake_anthropic, "ollama": fake_ollama, "openai": fake_openai}
    for fake in every.values():
        fake.clear_faults()
        fake.reset_stats()
    yield every
    for fake in every.values():
        fake.clear_faults()


@pytest.fixture
def anthropic_fake(fakes: dict[str, FakeUpstream]) -> FakeUpstream:
    return fakes["anthropic"]


@pytest.fixture
def ollama_fake(fakes: dict[str, FakeUpstream]) -> FakeUpstream:
    return fakes["ollama"]


@pytest.fixture
def openai_fake(fakes: dict[str, FakeUpstream]) -> FakeUpstream:
    return fakes["openai"]


@pytest.fixture
def client(gateway: ProxyProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1",
                       api_key=gateway.client_key_value,  # type: ignore[attr-defined]
                       max_retries=0, timeout=20) as c:
        yield c


@pytest.fixture
async def aclient(gateway: ProxyProcess) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=gateway.url + "/v1",
                                  api_key=gateway.client_key_value,  # type: ignore[attr-defined]
                                  max_retries=0, timeout=20) as c:
        yield c

