"""PRODUCT.md error tables: every status in the OpenAI shape on /v1/chat/completions and
in the Anthropic shape on /v1/messages, with Retry-After and x-ratelimit-* on 429 and
Retry-After on 503/529."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.harness import ProxyProcess
from tests.services import free_port

from .conftest import DEMO_KEY

pytestmark = pytest.mark.timeout(60)

OPENAI = {400: "invalid_request_error", 401: None, 403: "permission_error",
          404: "invalid_request_error", 413: None, 429: None, 503: None}
ANTHROPIC = {400: "invalid_request_error", 401: "authentication_error",
             403: "permission_error", 404: "not_found_error", 413: "request_too_large",
             429: "rate_limit_error", 529: "overloaded_error"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    with ProxyProcess(tmp_path_factory.mktemp("errors"), args=("--demo",),
                      env={"MAX_REQUEST_BYTES": "4096"}) as proc:
        admin = proc.admin
        default = next(m for m in admin.http.get("/admin/mappings").json()["data"]
                       if m["is_default"])
        admin.http.patch(f"/admin/mappings/{default['id']}", json={"is_default": False})
        dead = admin.provider("errors-dead", "openai", f"http://127.0.0.1:{free_port()}/v1",
                              keys=["sk-dead-1111"], max_retries=0)
        admin.mapping("errors-down", dead["id"], "m")
        proc.narrow = admin.client_key("narrow", allowed_models=["gpt-4o-mini"])  # type: ignore[attr-defined]
        proc.slow = admin.client_key("slow", rpm_limit=1)  # type: ignore[attr-defined]
        yield proc


def cases(gateway: ProxyProcess, body: dict[str, object]) -> dict[int, tuple[str, object]]:
    """status -> (key, body or raw bytes) that must produce it."""
    return {
        400: (DEMO_KEY, {**body, "messages": "not a list"}),
        401: ("sk-wrong-key", body),
        403: (gateway.narrow, body),  # type: ignore[attr-defined]
        404: (DEMO_KEY, {**body, "model": "no-such-model"}),
        413: (DEMO_KEY, {**body, "messages": [{"role": "user", "content": "x" * 8000}]}),
        429: (gateway.slow, body),  # type: ignore[attr-defined]
        503: (DEMO_KEY, {**body, "model": "errors-down"}),
    }


def test_openai_error_shapes_and_statuses(gateway: ProxyProcess) -> None:
    body = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}
    for status, (key, payload) in cases(gateway, body).items():
        if status == 429:
            httpx.post(gateway.url + "/v1/chat/completions", json=payload, timeout=20,
                       headers={"Authorization": f"Bearer {key}"})
        resp = httpx.post(gateway.url + "/v1/chat/completions", json=payload, timeout=20,
                          headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == status, (status, resp.text)
        error = resp.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        if OPENAI[status]:
            assert error["type"] == OPENAI[status]
        assert resp.headers["x-request-id"]
        if status in (429, 503):
            assert float(resp.headers["Retry-After"]) > 0
        if status == 429:
            assert any(h.startswith("x-ratelimit-") for h in resp.headers)


def test_anthropic_error_shapes_and_statuses(gateway: ProxyProcess) -> None:
    body = {"model": "gpt-3.5-turbo", "max_tokens": 8,
            "messages": [{"role": "user", "content": "hi"}]}
    for status, (key, payload) in cases(gateway, body).items():
        if status == 429:
            httpx.post(gateway.url + "/v1/messages", json=payload, timeout=20,
                       headers={"x-api-key": key})
        resp = httpx.post(gateway.url + "/v1/messages?beta=true", json=payload, timeout=20,
                          headers={"x-api-key": key, "anthropic-version": "2023-06-01"})
        expected = 529 if status == 503 else status
        assert resp.status_code == expected, (status, resp.text)
        answer = resp.json()
        assert answer["type"] == "error" and set(answer["error"]) >= {"type", "message"}
        assert answer["error"]["type"] == ANTHROPIC[expected]
        if expected in (429, 529):
            assert float(resp.headers["Retry-After"]) > 0
