"""Fault-injection fixtures: one gateway, three fake upstreams, a chain per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

KEY_A = "sk-upstream-key-aaaa0001"
KEY_B = "sk-upstream-key-bbbb0002"
_names = itertools.count()


@pytest.fixture(scope="module")
def primary() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys={KEY_A, KEY_B}) as fake:
        yield fake


@pytest.fixture(scope="module")
def backup() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys={KEY_A, KEY_B}) as fake:
        yield fake


@pytest.fixture(scope="module")
def claude() -> Iterator[FakeUpstream]:
    with FakeUpstream("anthropic", keys={KEY_A}) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _clean_fakes(primary: FakeUpstream, backup: FakeUpstream, claude: FakeUpstream) -> None:
    for fake in (primary, backup, claude):
        fake.clear_faults()
        fake.reset_stats()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    tmp: Path = tmp_path_factory.mktemp("resilience")
    with ProxyProcess(tmp) as proc:
        proc.client_key_value = proc.admin.client_key("resilience")  # type: ignore[attr-defined]
        yield proc


class Chain:
    """Builds a fresh alias whose hops are fresh providers (so no state leaks)."""

    def __init__(self, gateway: ProxyProcess) -> None:
        self.gateway = gateway
        self.providers: list[str] = []

    def __call__(self, *hops: tuple[FakeUpstream | str, dict[str, Any]]) -> str:
        n = next(_names)
        alias = f"chain-{n}"
        for i, (fake, config) in enumerate(hops):
            config = dict(config)
            keys = config.pop("keys", [KEY_A])
            kind = config.pop("provider_type", None)
            if isinstance(fake, str):
                base_url, kind = fake, kind or "openai"
            else:
                kind = kind or str(fake.kind)
                base_url = fake.base_url
            name = f"p{n}-{i}"
            created = self.gateway.admin.provider(name, kind, base_url, keys=keys, **config)
            self.providers.append(name)
            model = "claude-x" if kind == "anthropic" else f"model-{i}"
            self.gateway.admin.mapping(alias, created["id"], model, order=i)
        return alias


@pytest.fixture
def chain(gateway: ProxyProcess) -> Chain:
    return Chain(gateway)


@pytest.fixture
def client(gateway: ProxyProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1",
                       api_key=gateway.client_key_value,  # type: ignore[attr-defined]
                       max_retries=0, timeout=30) as c:
        yield c
