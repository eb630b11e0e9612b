"""Console fixtures: a gateway with a fake OpenAI upstream, and a signed-in HTTP session."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ADMIN_KEY, ProxyProcess

UPSTREAM_KEY = "sk-upstream-console-secret-4321"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys={UPSTREAM_KEY, "sk-upstream-rotated-secret-8765"}) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    with ProxyProcess(tmp_path_factory.mktemp("console")) as proc:
        yield proc


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(base_url: str, credential: str = ADMIN_KEY) -> tuple[httpx.Client, str]:
    """A client with a console session, and the session's CSRF token."""
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=15)
    token = csrf_of(client.get("/ui/login").text)
    resp = client.post("/ui/login", data={"csrf": token, "credential": credential})
    assert resp.status_code == 303, resp.text
    return client, csrf_of(client.get("/ui/").text)
