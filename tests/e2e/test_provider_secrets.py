"""Provider secrets at run time, through the running server and the CLI:

* an upstream error that echoes a provider key or header value never reaches the client,
  the log, the health page or the audit trail;
* keys that this replica cannot decrypt (an ``ENCRYPTION_KEY`` rotation it missed): the
  provider is reported misconfigured, never called without a credential, the chain fails
  over, ``check`` names it, and a replica that can decrypt nothing is not ready;
* Redis down with ``REDIS_URL`` set: still ready, still serving, health says degraded.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy.crypto import generate_fernet_key
from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess
from tests.ratelimit.private_redis import PrivateRedis

pytestmark = pytest.mark.timeout(90)

GOOD_KEY = "sk-good-upstream-key-0000aaaa"
LEAKY_KEYS = ("sk-leaky-upstream-key-1111bbbb", "sk-leaky-upstream-key-2222cccc")
HEADER_SECRET = "header-secret-value-3333dddd"
HELLO = [{"role": "user", "content": "hi"}]


def _chat(proc: ProxyProcess, key: str, model: str) -> httpx.Response:
    return httpx.post(proc.url + "/v1/chat/completions", timeout=20,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": model, "messages": HELLO})


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys={GOOD_KEY}) as fake:
        yield fake


def test_upstream_errors_echoing_secrets_are_scrubbed_everywhere(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    for key in LEAKY_KEYS:  # what a careless upstream says: the key and header, verbatim
        upstream.add_fault(times=-1, key=key, status=401,
                           message=f"Incorrect API key provided: {key} (with {HEADER_SECRET})")
    try:
        with ProxyProcess(tmp_path) as proc:
            admin = proc.admin
            leaky = admin.provider("leaky", "openai", upstream.base_url, keys=list(LEAKY_KEYS),
                                   headers={"X-Team-Auth": HEADER_SECRET}, max_retries=0)
            admin.mapping("leaky-model", leaky["id"], "gpt-4o-mini")
            client = admin.client_key("scrub")
            # the admin's model listing asks the upstream with a key too
            listing = admin.http.get(f"/admin/providers/{leaky['id']}/models")
            assert listing.status_code >= 400 and "Incorrect API key" in listing.text
            reply = _chat(proc, client, "leaky-model")
            assert reply.status_code == 503, reply.text
            assert "Incorrect API key provided" in reply.text  # the reason does get through
            record = proc.admin.audit_record(reply.headers["x-request-id"])
            health = admin.http.get("/admin/health").text
            providers = admin.http.get("/admin/providers").text
            proc.stop()
            logs = proc.logs()
    finally:
        upstream.clear_faults()
    assert record["status"] == 503 and "Incorrect API key provided" in record["error"]
    assert "****" in reply.text and "****" in record["error"]
    for secret in (*LEAKY_KEYS, HEADER_SECRET):
        for where, text in (("response", reply.text), ("audit", str(record)),
                            ("health", health), ("providers", providers),
                            ("model listing", listing.text), ("log", logs)):
            assert secret not in text, f"{secret} in the {where}"


class _LiveProcess(ProxyProcess):
    """Started when it is alive (``/health``), ready or not."""

    def start(self, timeout: float = 20.0) -> ProxyProcess:
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "proxy", "serve", "--host", "127.0.0.1",
             "--port", str(self.port)], cwd=self.tmp, env=self.env, stdout=self._log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.logs()
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"not alive:\n{self.logs()}")


def test_undecryptable_keys_misconfigure_the_provider_and_the_chain_fails_over(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    old, new = generate_fernet_key(), generate_fernet_key()
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'proxy.db'}"}
    # written under the old key only
    with ProxyProcess(tmp_path, env={**env, "ENCRYPTION_KEY": old}) as proc:
        first = proc.admin.provider("first", "openai", upstream.base_url, keys=[GOOD_KEY],
                                    max_retries=0)
        lost = proc.admin.provider("lost", "openai", upstream.base_url,
                                   headers={"X-Team-Auth": HEADER_SECRET}, max_retries=0)
        proc.admin.key(lost["id"], GOOD_KEY)
    # the rotation: new writes under the new key (this replica still has both)
    with ProxyProcess(tmp_path, env={**env, "ENCRYPTION_KEY": f"{new},{old}"}) as proc:
        second = proc.admin.provider("second", "openai", upstream.base_url, keys=[GOOD_KEY],
                                     max_retries=0)
        proc.admin.mapping("chat", first["id"], "gpt-4o-mini", order=0)
        proc.admin.mapping("chat", second["id"], "gpt-4o-mini", order=1)
        proc.admin.mapping("lost-only", lost["id"], "gpt-4o-mini")
        client = proc.admin.client_key("rotation")

    # a replica that has only the new key
    upstream.reset_stats()
    with ProxyProcess(tmp_path, env={**env, "ENCRYPTION_KEY": new}) as proc:
        ready = httpx.get(proc.url + "/readyz", timeout=5)
        assert ready.status_code == 200, ready.text  # it can decrypt "second"
        reply = _chat(proc, client, "chat")
        assert reply.status_code == 200, reply.text
        assert reply.headers["x-proxy-provider"] == "second"
        refused = _chat(proc, client, "lost-only")
        assert refused.status_code == 503 and "misconfigured" in refused.text
        health = proc.admin.health()
        by_name = {p["name"]: p for p in health["providers"]}
        assert health["status"] == "degraded"
        assert "1 of 1 provider keys cannot be decrypted" in by_name["first"]["misconfigured"]
        assert "config.headers cannot be decrypted" in by_name["lost"]["misconfigured"]
        assert by_name["second"]["misconfigured"] is None
        record = proc.admin.audit_record(refused.headers["x-request-id"])
        assert record["status"] == 503 and "misconfigured" in record["error"]
    # the upstream never saw a call without a credential, nor one from "first" or "lost"
    assert set(upstream.stats()["hits_by_key"]) <= {GOOD_KEY}, upstream.stats()

    check = subprocess.run(
        [sys.executable, "-m", "proxy", "check"], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, env={**proc.env, "ENCRYPTION_KEY": new})
    assert check.returncode != 0
    lines = check.stdout.splitlines()
    assert any(ln.startswith("provider first: FAILED") and "cannot be decrypted" in ln
               for ln in lines), check.stdout
    assert any(ln.startswith("provider lost: FAILED") and "headers" in ln for ln in lines)
    assert any(ln.startswith("provider second: ok") for ln in lines), check.stdout

    # a replica whose ENCRYPTION_KEY opens nothing at all is alive but not ready
    with _LiveProcess(tmp_path, env={**env, "ENCRYPTION_KEY": generate_fernet_key()}) as proc:
        ready = httpx.get(proc.url + "/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["checks"]["secrets"] is False


def test_redis_down_keeps_the_replica_ready_and_serving(tmp_path: Path) -> None:
    redis_server = PrivateRedis()
    redis_server.start()
    try:
        env = {"REDIS_URL": redis_server.url, "RATE_LIMIT_PER_KEY_RPM": "1000"}
        with ProxyProcess(tmp_path, env=env) as proc:
            mock = proc.admin.provider("mock", "mock")
            proc.admin.mapping("m", mock["id"], "mock-model")
            client = proc.admin.client_key("redis")
            assert _chat(proc, client, "m").status_code == 200
            redis_server.stop()
            for _ in range(5):
                assert _chat(proc, client, "m").status_code == 200
            ready = httpx.get(proc.url + "/readyz", timeout=5)
            assert ready.status_code == 200, ready.text
            health = proc.admin.health()
            assert health["redis"]["status"] == "error" and health["status"] == "degraded"
            metrics = httpx.get(proc.url + "/metrics", timeout=5).text
            assert "proxy_ratelimit_backend_fallbacks_total 1" in metrics.replace(".0", "")
            assert 'proxy_dependency_up{dependency="redis"} 0' in metrics.replace(".0", "")
    finally:
        redis_server.stop()
