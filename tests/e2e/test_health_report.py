"""``/admin/health`` tells an operator what is wrong and since when: an open circuit
degrades the top-level status, every last error names the upstream host and its time,
and a provider that recovered says when."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

pytestmark = pytest.mark.timeout(60)

KEY = "sk-health-upstream-key-0000aaaa"
HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys={KEY}) as fake:
        yield fake


def _when(text: str | None) -> datetime:
    assert text and text.endswith("Z"), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_open_circuit_degrades_errors_carry_host_and_time_recovery_is_shown(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    host = upstream.base_url.split("//", 1)[1].split("/", 1)[0]
    with ProxyProcess(tmp_path) as proc:
        admin = proc.admin
        flaky = admin.provider("flaky", "openai", upstream.base_url, keys=[KEY], max_retries=0,
                               failure_threshold=2, recovery_timeout=1)
        admin.mapping("flaky-model", flaky["id"], "gpt-4o-mini")
        client = admin.client_key("health")

        def chat() -> int:
            return httpx.post(proc.url + "/v1/chat/completions", timeout=20,
                              headers={"Authorization": f"Bearer {client}"},
                              json={"model": "flaky-model", "messages": HELLO}).status_code

        assert admin.health()["status"] == "ok"
        upstream.add_fault(times=2, status=500, message="the upstream is on fire")
        before = time.time()
        assert [chat(), chat()] == [502, 502]
        health = admin.health()
        entry = admin.provider_health("flaky")
        assert health["status"] == "degraded" and entry["status"] == "degraded"
        assert entry["circuit_state"] == "open"
        assert entry["upstream_host"] == host
        assert entry["last_error"].startswith(f"{host}: ") and "on fire" in entry["last_error"]
        failed_at = _when(entry["last_error_at"])
        assert before - 1 <= failed_at.timestamp() <= time.time() + 1
        assert entry["recovered_at"] is None

        time.sleep(1.3)  # recovery_timeout: the next request is the probe
        assert chat() == 200
        entry = admin.provider_health("flaky")
        assert entry["status"] == "ok" and entry["circuit_state"] == "closed"
        assert _when(entry["recovered_at"]) >= failed_at
        assert "on fire" in entry["last_error"]  # what happened stays readable ...
        assert admin.health()["status"] == "ok"  # ... but no longer degrades anything

        # a key's error carries its time too
        bad = admin.provider("bad-key", "openai", upstream.base_url,
                             keys=["sk-not-accepted-upstream-1111"], max_retries=0)
        admin.mapping("bad-model", bad["id"], "gpt-4o-mini")
        assert httpx.post(proc.url + "/v1/chat/completions", timeout=20,
                          headers={"Authorization": f"Bearer {client}"},
                          json={"model": "bad-model", "messages": HELLO}).status_code == 503
        key = admin.provider_health("bad-key")["keys"][0]
        assert not key["healthy"] and key["last_error"]
        assert _when(key["last_error_at"]).timestamp() >= failed_at.timestamp()


def test_a_connection_failure_names_host_and_reason(tmp_path: Path) -> None:
    with ProxyProcess(tmp_path) as proc:
        admin = proc.admin
        dead = admin.provider("dead", "openai", "http://127.0.0.1:9/v1", keys=[KEY],
                              max_retries=0)
        admin.mapping("dead-model", dead["id"], "gpt-4o-mini")
        client = admin.client_key("dead")
        reply = httpx.post(proc.url + "/v1/chat/completions", timeout=20,
                           headers={"Authorization": f"Bearer {client}"},
                           json={"model": "dead-model", "messages": HELLO})
        assert reply.status_code == 503  # every hop unreachable: no healthy provider
        entry = admin.provider_health("dead")
        assert entry["last_error"].startswith("127.0.0.1:9: could not reach upstream")
        why = entry["last_error"].lower()  # the reason, not just an exception class
        assert "refused" in why or "connect call failed" in why, why
        assert entry["last_error_at"]
