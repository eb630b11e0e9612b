"""One audit record and one access-log line per ``/v1`` request, refused ones included
(401, 403, 400, 413, 429), found by the ``x-request-id`` the client saw; the alias is
what the client asked for, also when the default route served it; the session id of
Claude Code's header is kept."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.harness import ProxyProcess

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    tmp: Path = tmp_path_factory.mktemp("refused")
    env = {"LOG_REQUESTS": "true", "MAX_REQUEST_BYTES": "4096"}
    with ProxyProcess(tmp, env=env) as proc:
        admin = proc.admin
        mock = admin.provider("mock", "mock")
        admin.mapping("gpt-default", mock["id"], "mock-model", is_default=True)
        admin.mapping("gpt-narrow", mock["id"], "mock-model")
        keys = {
            "open": admin.http.post("/admin/api-keys", json={"name": "open"}).json(),
            "narrow": admin.http.post("/admin/api-keys", json={
                "name": "narrow", "allowed_models": ["gpt-narrow"]}).json(),
            "slow": admin.http.post("/admin/api-keys", json={
                "name": "slow", "rpm_limit": 1}).json(),
        }
        proc.keys = keys  # type: ignore[attr-defined]
        yield proc


def _post(gateway: ProxyProcess, key: str | None, body: Any, **headers: str
          ) -> httpx.Response:
    sent = {"Content-Type": "application/json", **headers}
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(gateway.url + "/v1/chat/completions", content=content, headers=sent,
                      timeout=10)


def _access_line(gateway: ProxyProcess, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in gateway.logs().splitlines():
            if request_id in line and '"proxy.access"' in line:
                return dict(orjson.loads(line))
        time.sleep(0.1)
    raise AssertionError(f"no access-log line for {request_id}")


HELLO = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(("case", "status"), [
    ("no key", 401), ("wrong key", 401), ("model not allowed", 403),
    ("bad body", 400), ("not json", 400), ("too large", 413), ("rate limited", 429),
])
def test_a_refused_request_leaves_an_audit_record_and_a_log_line(
    gateway: ProxyProcess, case: str, status: int
) -> None:
    keys = gateway.keys  # type: ignore[attr-defined]
    key: str | None = keys["open"]["key"]
    body: Any = {"model": "gpt-narrow", "messages": HELLO}
    key_id: int | None = keys["open"]["id"]
    if case == "no key":
        key, key_id = None, None
    elif case == "wrong key":
        key, key_id = "sk-proxy-not-a-real-key-0123456789", None
    elif case == "model not allowed":
        key, key_id = keys["narrow"]["key"], keys["narrow"]["id"]
        body = {"model": "gpt-default", "messages": HELLO}
    elif case == "bad body":
        body = {"model": "gpt-narrow", "messages": "not a list"}
    elif case == "not json":
        body = b"{not json"
    elif case == "too large":
        body = {"model": "gpt-narrow", "messages": [{"role": "user", "content": "x" * 8000}]}
    elif case == "rate limited":
        key, key_id = keys["slow"]["key"], keys["slow"]["id"]
        _post(gateway, key, body)  # the one request of the minute
    reply = _post(gateway, key, body)
    assert reply.status_code == status, reply.text
    request_id = reply.headers["x-request-id"]
    record = gateway.admin.audit_record(request_id)
    assert record["status"] == status and record["api_key_id"] == key_id
    assert record["error"], "the reason is recorded"
    assert record["endpoint"] == "/v1/chat/completions" and record["provider"] is None
    line = _access_line(gateway, request_id)
    assert line["status"] == status and line["endpoint"] == "/v1/chat/completions"


def test_the_alias_asked_for_is_recorded_when_the_default_route_serves_it(
    gateway: ProxyProcess,
) -> None:
    key = gateway.keys["open"]["key"]  # type: ignore[attr-defined]
    reply = _post(gateway, key, {"model": "no-such-alias", "messages": HELLO},
                  **{"X-Claude-Code-Session-Id": "session-1234"})
    assert reply.status_code == 200, reply.text
    record = gateway.admin.audit_record(reply.headers["x-request-id"])
    assert record["alias"] == "no-such-alias" and record["upstream_model"] == "mock-model"
    assert record["session_id"] == "session-1234"
    found = gateway.admin.http.get("/admin/audit", params={"session_id": "session-1234"}
                                   ).json()["data"]
    assert [r["request_id"] for r in found] == [reply.headers["x-request-id"]]


@pytest.mark.parametrize(("method", "path", "with_key", "status"), [
    ("GET", "/v1/models", True, 200),
    ("GET", "/v1/models", False, 401),
    ("GET", "/v1/models/no-such-model", True, 404),
    ("GET", "/v1/no-such-endpoint", True, 404),
    ("GET", "/v1/chat/completions", True, 405),
])
def test_requests_outside_the_pipeline_are_audited_too(
    gateway: ProxyProcess, method: str, path: str, with_key: bool, status: int
) -> None:
    key = gateway.keys["open"]  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {key['key']}"} if with_key else {}
    reply = httpx.request(method, gateway.url + path, headers=headers, timeout=10)
    assert reply.status_code == status, reply.text
    record = gateway.admin.audit_record(reply.headers["x-request-id"])
    assert record["status"] == status
    if path.startswith("/v1/models") and with_key:
        assert record["api_key_id"] == key["id"]
    if status >= 400:
        assert record["error"]
    assert _access_line(gateway, reply.headers["x-request-id"])["status"] == status
