"""SHARE_CIRCUIT_STATE: a circuit opened on one replica is open on the others."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess
from tests.services import require_redis

pytestmark = pytest.mark.timeout(60)

MSG = [{"role": "user", "content": "tokens:3"}]


def _configure(proc: ProxyProcess, failing: FakeUpstream, healthy: FakeUpstream) -> str:
    admin = proc.admin
    bad = admin.provider("flaky", "openai", failing.base_url, keys=["k-flaky-0001"],
                         max_retries=0, failure_threshold=2, recovery_timeout=30)
    good = admin.provider("steady", "openai", healthy.base_url, keys=["k-steady-0001"])
    admin.mapping("m", bad["id"], "gpt", order=0)
    admin.mapping("m", good["id"], "gpt", order=1)
    return admin.client_key()


@pytest.mark.parametrize("share", [True, False])
def test_an_opened_circuit_is_shared_only_when_asked(tmp_path: Path, share: bool) -> None:
    redis_url = require_redis()
    env = {"REDIS_URL": redis_url, "SHARE_CIRCUIT_STATE": "true" if share else "false"}
    with FakeUpstream("openai") as failing, FakeUpstream("openai") as healthy, \
            ProxyProcess(tmp_path / "a", env=env) as a, ProxyProcess(tmp_path / "b", env=env) as b:
        key_a, key_b = _configure(a, failing, healthy), _configure(b, failing, healthy)
        failing.add_fault(status=503, times=-1)
        with openai.OpenAI(base_url=a.url + "/v1", api_key=key_a, max_retries=0) as client:
            for _ in range(2):
                client.chat.completions.create(model="m", messages=MSG)
        assert a.admin.provider_health("flaky")["circuit"]["state"] == "open"
        hits_before = failing.stats()["hits"]
        time.sleep(0.5)  # pub/sub delivery
        state_b = b.admin.provider_health("flaky")["circuit"]["state"]
        with openai.OpenAI(base_url=b.url + "/v1", api_key=key_b, max_retries=0) as client:
            raw = client.chat.completions.with_raw_response.create(model="m", messages=MSG)
        assert raw.headers["x-proxy-provider"] == "steady"
        if share:
            assert state_b == "open"
            assert failing.stats()["hits"] == hits_before  # B never called the dead provider
        else:
            assert state_b == "closed"
            assert failing.stats()["hits"] == hits_before + 1
