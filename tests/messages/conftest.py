"""One real gateway (subprocess) for the Messages tests, in front of the three fake
upstreams and the in-process mock, driven with the official ``anthropic`` SDK.

    claude        anthropic (native)   claude-sonnet-4-5
    gpt           openai (translated)  gpt-4o-mini
    gpt-capped    openai (translated)  gpt-4o-mini, config max_tokens 100 (an output cap)
    llama         ollama (translated)  llama3.2
    mock          mock (translated)    mock-model
    chain         claude-primary (anthropic) → chain-openai (openai), for fallback/resume
    chain-native  claude-primary → claude (both anthropic, native all the way)
    chain-reverse chain-openai → claude (translated, then native)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

ANTHROPIC_KEY = "sk-ant-msg-test-aaaa1111"
OPENAI_KEY = "sk-upstream-msg-test-bbbb2222"
NEVER_OPEN = 100_000
ALIASES = ("claude", "gpt", "llama", "mock")


@pytest.fixture(scope="session")
def m_fakes() -> Iterator[dict[str, FakeUpstream]]:
    with FakeUpstream("anthropic", keys={ANTHROPIC_KEY}) as ant, \
            FakeUpstream("openai", keys={OPENAI_KEY}) as oai, \
            FakeUpstream("ollama") as llama:
        yield {"anthropic": ant, "openai": oai, "ollama": llama}


@pytest.fixture(scope="session")
def m_gateway(tmp_path_factory: pytest.TempPathFactory,
              m_fakes: dict[str, FakeUpstream]) -> Iterator[ProxyProcess]:
    tmp: Path = tmp_path_factory.mktemp("messages")
    # SLOW_CLIENT_TIMEOUT 4: a stream quiet for 2 s gets a ping (test_native)
    with ProxyProcess(tmp, env={"AUDIT_STORE_CONTENT": "false",
                                "SLOW_CLIENT_TIMEOUT": "4"}) as proc:
        admin = proc.admin
        common: dict[str, Any] = {"max_retries": 0, "failure_threshold": NEVER_OPEN}
        ant = admin.provider("claude", "anthropic", m_fakes["anthropic"].base_url,
                             keys=[ANTHROPIC_KEY], **common)
        admin.mapping("claude", ant["id"], "claude-sonnet-4-5")
        oai = admin.provider("gpt", "openai", m_fakes["openai"].base_url, keys=[OPENAI_KEY],
                             **common)
        admin.mapping("gpt", oai["id"], "gpt-4o-mini")
        admin.mapping("gpt-capped", oai["id"], "gpt-4o-mini", max_tokens=100)
        llama = admin.provider("llama", "ollama", m_fakes["ollama"].base_url, **common)
        admin.mapping("llama", llama["id"], "llama3.2")
        mock = admin.provider("mock", "mock", "", **common)
        admin.mapping("mock", mock["id"], "mock-model")
        primary = admin.provider("claude-primary", "anthropic", m_fakes["anthropic"].base_url,
                                 keys=[ANTHROPIC_KEY], **common)
        backup = admin.provider("chain-openai", "openai", m_fakes["openai"].base_url,
                                keys=[OPENAI_KEY], **common)
        admin.mapping("chain", primary["id"], "claude-opus-4-1", order=0)
        admin.mapping("chain", backup["id"], "gpt-4o", order=1)
        admin.mapping("chain-native", primary["id"], "claude-opus-4-1", order=0)
        admin.mapping("chain-native", ant["id"], "claude-sonnet-4-5", order=1)
        admin.mapping("chain-reverse", backup["id"], "gpt-4o", order=0)
        admin.mapping("chain-reverse", ant["id"], "claude-sonnet-4-5", order=1)
        proc.client_key_value = admin.client_key("messages", tenant="t-msg")  # type: ignore[attr-defined]
        yield proc


@pytest.fixture
def fakes(m_fakes: dict[str, FakeUpstream]) -> Iterator[dict[str, FakeUpstream]]:
    for fake in m_fakes.values():
        fake.clear_faults()
        fake.reset_stats()
    yield m_fakes
    for fake in m_fakes.values():
        fake.clear_faults()


@pytest.fixture
def key(m_gateway: ProxyProcess) -> str:
    return str(m_gateway.client_key_value)  # type: ignore[attr-defined]


@pytest.fixture
def client(m_gateway: ProxyProcess, key: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=m_gateway.url, api_key=key, max_retries=0,
                             timeout=20) as c:
        yield c


@pytest.fixture
async def aclient(m_gateway: ProxyProcess, key: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=m_gateway.url, api_key=key, max_retries=0,
                                        timeout=20) as c:
        yield c
