"""``GET /admin/providers/{id}/models``: what each upstream itself lists, through the
running gateway, against the three fake upstreams, an unreachable one and a refusing one."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess
from tests.services import free_port

KEY = "sk-discovery-upstream-key-7777"


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    with FakeUpstream("openai", keys={KEY}, models=["gpt-x", "gpt-y"]) as oa, \
            FakeUpstream("anthropic", keys={KEY}, models=["claude-z"]) as an, \
            FakeUpstream("ollama", models=["llama3.2:latest"]) as ol:
        yield {"openai": oa, "anthropic": an, "ollama": ol}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory,
            fakes: dict[str, FakeUpstream]) -> Iterator[tuple[ProxyProcess, dict[str, int]]]:
    with ProxyProcess(tmp_path_factory.mktemp("discovery")) as proc:
        admin = proc.admin
        ids = {
            "openai": admin.provider("oa", "openai", fakes["openai"].base_url, keys=[KEY])["id"],
            "anthropic": admin.provider("an", "anthropic", fakes["anthropic"].url,
                                        keys=[KEY])["id"],
            "ollama": admin.provider("ol", "ollama", fakes["ollama"].url)["id"],
            "mock": admin.provider("mk", "mock")["id"],
            "dead": admin.provider("dead", "openai", f"http://127.0.0.1:{free_port()}/v1",
                                   keys=[KEY])["id"],
            "refusing": admin.provider("refusing", "openai", fakes["openai"].base_url,
                                       keys=["sk-wrong-key-for-discovery-0000"])["id"],
        }
        yield proc, ids


def _models(proc: ProxyProcess, provider_id: int) -> httpx.Response:
    return proc.admin.http.get(f"/admin/providers/{provider_id}/models")


@pytest.mark.parametrize(("kind", "expected"), [
    ("openai", ["gpt-x", "gpt-y"]),
    ("anthropic", ["claude-z"]),
    ("ollama", ["llama3.2:latest"]),
    ("mock", []),
])
def test_lists_what_the_upstream_lists(gateway: tuple[ProxyProcess, dict[str, int]],
                                       kind: str, expected: list[str]) -> None:
    proc, ids = gateway
    resp = _models(proc, ids[kind])
    assert resp.status_code == 200, resp.text
    assert [m["id"] for m in resp.json()["data"]] == expected


def test_unreachable_upstream_is_a_502_naming_the_host(
        gateway: tuple[ProxyProcess, dict[str, int]]) -> None:
    proc, ids = gateway
    resp = _models(proc, ids["dead"])
    assert resp.status_code == 502
    message = resp.json()["error"]["message"]
    assert "127.0.0.1:" in message and "could not list models" in message
    # the operator's question is not traffic: the circuit and the key stay as they were
    health = proc.admin.provider_health("dead")
    assert health["circuit_state"] == "closed"


def test_refused_listing_is_a_502_without_the_key(
        gateway: tuple[ProxyProcess, dict[str, int]]) -> None:
    proc, ids = gateway
    resp = _models(proc, ids["refusing"])
    assert resp.status_code == 502
    assert "HTTP 401" in resp.json()["error"]["message"]
    assert "sk-wrong-key-for-discovery-0000" not in resp.text


def test_unknown_provider_is_404_and_non_admin_is_refused(
        gateway: tuple[ProxyProcess, dict[str, int]]) -> None:
    proc, ids = gateway
    assert _models(proc, 999_999).status_code == 404
    client_key = proc.admin.client_key("not-admin")
    resp = httpx.get(f"{proc.url}/admin/providers/{ids['openai']}/models",
                     headers={"Authorization": f"Bearer {client_key}"})
    assert resp.status_code == 403
