"""One gateway for the package with a provider of every type: fakes of ``openai``,
``anthropic`` and ``ollama``, and ``mock``. Each alias is named after its provider."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

KEY = "sk-hardening-upstream-0001"
#: alias (= provider name) → provider type
PROVIDERS = {"oa": "openai", "an": "anthropic", "ol": "ollama", "mk": "mock"}


@dataclass
class Gateway:
    proc: ProxyProcess
    key: str
    fakes: dict[str, FakeUpstream]

    @property
    def url(self) -> str:
        return self.proc.url

    def health(self, provider: str) -> dict[str, object]:
        return self.proc.admin.provider_health(provider)


@pytest.fixture(scope="package")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp: Path = tmp_path_factory.mktemp("hardening")
    with (FakeUpstream("openai", keys={KEY}) as oa, FakeUpstream("anthropic", keys={KEY}) as an,
          FakeUpstream("ollama") as ol, ProxyProcess(tmp) as proc):
        fakes = {"oa": oa, "an": an, "ol": ol}
        admin = proc.admin
        for name, kind in PROVIDERS.items():
            fake = fakes.get(name)
            extra = {} if fake else {"chunk_delay_ms": 30}  # mock: streams take a while
            created = admin.provider(name, kind, fake.base_url if fake else "",
                                     keys=[KEY] if fake and kind != "ollama" else [],
                                     max_retries=0, max_concurrency=8, failure_threshold=3,
                                     **extra)
            admin.mapping(name, created["id"], f"{name}-model")
        yield Gateway(proc, admin.client_key("hardening"), fakes)


@pytest.fixture(autouse=True)
def _clean_fakes(request: pytest.FixtureRequest) -> None:
    if "gateway" not in request.fixturenames:  # unit tests here need no server
        return
    gateway: Gateway = request.getfixturevalue("gateway")
    for fake in gateway.fakes.values():
        fake.clear_faults()
