"""Contract fixtures: the gateway as a user starts it (`serve --demo`), shared per module,
plus two fake OpenAI upstreams that tests put faults on."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

DEMO_KEY = "mock-api-key-123"
UPSTREAM_KEY = "sk-upstream-contract-9999"
_names = itertools.count()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    """`openai-proxy serve --demo`: provider mock, key mock-api-key-123, gpt-3.5-turbo."""
    with ProxyProcess(tmp_path_factory.mktemp("contract"), args=("--demo",)) as proc:
        yield proc


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream("openai", keys={UPSTREAM_KEY}) as one, \
            FakeUpstream("openai", keys={UPSTREAM_KEY}) as two:
        yield one, two


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> None:
    if "upstreams" in request.fixturenames:
        for fake in request.getfixturevalue("upstreams"):
            fake.clear_faults()
            fake.reset_stats()


def chain(gateway: ProxyProcess, *hops: tuple[str, dict[str, object]]) -> tuple[str, list[str]]:
    """A fresh alias over fresh `openai` providers at the given base URLs (no state leaks
    between tests); returns the alias and the provider names in chain order."""
    n = next(_names)
    alias, names = f"contract-{n}", []
    for i, (base_url, config) in enumerate(hops):
        name = f"c{n}-{i}"
        created = gateway.admin.provider(name, "openai", base_url, keys=[UPSTREAM_KEY], **config)
        gateway.admin.mapping(alias, created["id"], f"model-{i}", order=i)
        names.append(name)
    return alias, names
