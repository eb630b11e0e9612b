"""Health is blamed on the right party (issue 14): only the upstream's own faults count
against a provider or a key, each state change is logged once with the request that
caused it, and the failover-suite behaviours (a short Retry-After waited out, a recovered
primary gets its traffic back)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import httpx
import openai
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

from .conftest import KEY_A, KEY_B, Chain

pytestmark = pytest.mark.timeout(60)

MSG = [{"role": "user", "content": "tokens:5"}]
ANSWER = "word0 word1 word2 word3 word4"
NO_ACCESS = "Project `proj_abc123` does not have access to model `model-0`"


def hits(fake: FakeUpstream) -> int:
    return int(fake.stats()["hits_by_path"].get("/v1/chat/completions", 0))


def ask(client: openai.OpenAI, model: str, **extra: Any) -> tuple[str, dict[str, str]]:
    raw = client.chat.completions.with_raw_response.create(model=model, messages=MSG, **extra)
    return raw.parse().choices[0].message.content or "", dict(raw.headers)


def keys_of(gateway: ProxyProcess, provider: str) -> list[dict[str, Any]]:
    provider_id = next(p["id"] for p in gateway.admin.http.get("/admin/providers").json()["data"]
                       if p["name"] == provider)
    return list(gateway.admin.http.get(
        "/admin/keys", params={"provider_id": provider_id}).json()["data"])


def circuit(gateway: ProxyProcess, provider: str) -> dict[str, Any]:
    return dict(gateway.admin.provider_health(provider)["circuit"])


def log_lines(gateway: ProxyProcess, message: str, provider: str) -> list[dict[str, Any]]:
    out = []
    for line in gateway.logs().splitlines():
        if message in line and provider in line:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


# -- keys: only answers about the credential mark a key --------------------------------


def test_a_403_about_the_model_leaves_the_key_healthy(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, gateway: ProxyProcess
) -> None:
    chain((primary, {"keys": [KEY_A]}))
    name = chain.providers[0]
    # reachable by any client key through provider/model addressing
    primary.add_fault(status=403, code="model_not_found", message=NO_ACCESS, times=3)
    for _ in range(3):
        with pytest.raises(openai.PermissionDeniedError) as info:
            ask(client, f"{name}/model-0")
        assert NO_ACCESS in info.value.message
    assert [k["healthy"] for k in keys_of(gateway, name)] == [True]
    assert circuit(gateway, name)["consecutive_failures"] == 0
    assert ask(client, f"{name}/model-0")[0] == ANSWER


def test_an_anthropic_permission_error_about_a_resource_leaves_the_key_healthy(
    client: openai.OpenAI, chain: Chain, claude: FakeUpstream, backup: FakeUpstream,
    gateway: ProxyProcess,
) -> None:
    alias = chain((claude, {"keys": [KEY_A]}), (backup, {}))
    name = chain.providers[0]
    claude.add_fault(status=403, body={"type": "error", "error": {
        "type": "permission_error",
        "message": "Your API key does not have permission to use the specified resource."}})
    text, headers = ask(client, alias)  # moves on to the next entry
    assert text == ANSWER and headers["x-proxy-provider"] == chain.providers[1]
    assert [k["healthy"] for k in keys_of(gateway, name)] == [True]
    assert ask(client, alias)[1]["x-proxy-provider"] == name


def test_a_403_saying_the_key_is_revoked_takes_it_out_and_is_logged_with_the_request(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, gateway: ProxyProcess
) -> None:
    alias = chain((primary, {"keys": [KEY_A, KEY_B]}))
    name = chain.providers[0]
    primary.add_fault(status=403, key=KEY_A, code="invalid_api_key", times=-1,
                      message="This API key has been revoked.")
    ids = [f"blame-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    for rid in ids:  # round-robin: one of the first two requests tries the revoked key
        assert ask(client, alias, extra_headers={"x-request-id": rid})[0] == ANSWER
    assert sorted(k["healthy"] for k in keys_of(gateway, name)) == [False, True]
    lines = log_lines(gateway, "upstream key taken out of rotation", name)
    assert len(lines) == 1 and lines[0]["request_id"] in ids[:2]
    assert "sk-upstream" not in json.dumps(lines)


def test_no_usable_key_while_the_only_key_cools_down_never_opens_the_circuit(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream,
    gateway: ProxyProcess,
) -> None:
    alias = chain((primary, {"failure_threshold": 2, "max_retry_wait": 1}), (backup, {}))
    name = chain.providers[0]
    primary.add_fault(status=429, retry_after=30)
    for _ in range(5):
        text, headers = ask(client, alias)
        assert text == ANSWER and headers["x-proxy-provider"] == chain.providers[1]
    assert hits(primary) == 1  # the resting key is not used
    state = circuit(gateway, name)
    assert state["state"] == "closed" and state["consecutive_failures"] == 1


@pytest.mark.parametrize("value", ["inf", "nan", "-3", "1e308", "Infinity"])
def test_absurd_retry_after_values_neither_fail_nor_park_the_key(
    value: str, client: openai.OpenAI, chain: Chain, primary: FakeUpstream,
    backup: FakeUpstream, gateway: ProxyProcess,
) -> None:
    alias = chain((primary, {"keys": [KEY_A, KEY_B]}), (backup, {}))
    name = chain.providers[0]
    primary.add_fault(status=429, retry_after_header=value, times=2)
    text, _ = ask(client, alias)
    assert text == ANSWER
    for key in keys_of(gateway, name):
        assert key["cooling_for"] <= 3600.0
    # the last entry alone: still no 500, the client learns a finite Retry-After
    solo = chain((primary, {"max_retries": 0}))
    primary.add_fault(status=429, retry_after_header=value, times=-1)
    resp = httpx.post(gateway.url + "/v1/chat/completions", timeout=10, json={
        "model": solo, "messages": MSG},
        headers={"Authorization": f"Bearer {gateway.client_key_value}"})  # type: ignore[attr-defined]
    assert resp.status_code in (429, 503), resp.text
    assert 1 <= int(resp.headers["retry-after"]) <= 3600


def test_rotating_a_key_to_the_same_secret_makes_it_healthy_again(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream,
    gateway: ProxyProcess,
) -> None:
    alias = chain((primary, {"keys": [KEY_A]}), (backup, {}))
    name = chain.providers[0]
    primary.add_fault(status=401, code="invalid_api_key", message="Incorrect API key provided")
    assert ask(client, alias)[1]["x-proxy-provider"] == chain.providers[1]
    [key] = keys_of(gateway, name)
    assert key["healthy"] is False
    gateway.admin.http.post(f"/admin/keys/{key['id']}/rotate", json={"key": KEY_A})
    assert [k["healthy"] for k in keys_of(gateway, name)] == [True]
    assert ask(client, alias)[1]["x-proxy-provider"] == name


# -- timeouts: the upstream is charged only for its own time ---------------------------


def test_a_long_whole_answer_is_bounded_by_timeout_not_first_token_timeout(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, gateway: ProxyProcess
) -> None:
    # headers at once, the body 2.5 s later: a long generation, not a slow first token
    alias = chain((primary, {"first_token_timeout": 1, "max_retries": 0,
                             "failure_threshold": 1}))
    primary.add_fault(body_delay_ms=2500)
    started = time.monotonic()
    text, _ = ask(client, alias)
    assert text == ANSWER and time.monotonic() - started >= 2.4
    assert circuit(gateway, chain.providers[0])["state"] == "closed"


def test_no_headers_within_first_token_timeout_still_moves_on(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((primary, {"first_token_timeout": 1}), (backup, {}))
    primary.add_fault(delay_ms=5000)
    started = time.monotonic()
    text, headers = ask(client, alias)
    assert headers["x-proxy-provider"] == chain.providers[1]
    assert time.monotonic() - started < 2.5


def test_a_call_queued_behind_a_saturated_provider_moves_on_within_first_token_timeout(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream,
    gateway: ProxyProcess,
) -> None:
    alias = chain((primary, {"max_concurrency": 1, "first_token_timeout": 1.5,
                             "failure_threshold": 1}), (backup, {}))
    name = chain.providers[0]
    # the only worker is busy with a slow (but healthy) stream for ~4 s
    primary.add_fault(chunk_delay_ms=800)
    busy = threading.Thread(target=lambda: list(client.chat.completions.create(
        model=f"{name}/model-0", messages=MSG, stream=True)))
    busy.start()
    try:
        deadline = time.monotonic() + 5
        while gateway.admin.provider_health(name)["in_flight"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        started = time.monotonic()
        text, headers = ask(client, alias)
        elapsed = time.monotonic() - started
        assert text == ANSWER and headers["x-proxy-provider"] == chain.providers[1]
        assert 1.3 <= elapsed < 2.5
        state = circuit(gateway, name)  # time queued is never the upstream's fault
        assert state["state"] == "closed" and state["consecutive_failures"] == 0
    finally:
        busy.join(15)


# -- the circuit breaker ----------------------------------------------------------------


def test_a_straggler_ending_during_half_open_neither_closes_nor_takes_the_probe(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream,
    gateway: ProxyProcess,
) -> None:
    alias = chain((primary, {"failure_threshold": 2, "recovery_timeout": 1, "max_retries": 0,
                             "first_token_timeout": 30}), (backup, {}))
    name = chain.providers[0]
    primary.add_fault(delay_ms=2500)  # the straggler: admitted while closed, answers late
    primary.add_fault(status=503, times=2)  # these open the circuit
    primary.add_fault(delay_ms=4000)  # the half-open probe, still out when the straggler ends
    results: dict[str, str] = {}

    def send(tag: str) -> None:
        results[tag] = ask(client, alias)[1]["x-proxy-provider"]

    straggler = threading.Thread(target=send, args=("straggler",))
    straggler.start()
    time.sleep(0.3)
    for _ in range(2):
        ask(client, alias)
    assert circuit(gateway, name)["state"] == "open"
    time.sleep(1.1)
    probe = threading.Thread(target=send, args=("probe",))
    probe.start()
    straggler.join(10)
    assert results["straggler"] == name  # its success came while the probe was out ...
    state = circuit(gateway, name)
    assert state["state"] == "half_open"  # ... and did not close the circuit
    for _ in range(3):  # nor did it free the probe's slot: no second probe goes through
        assert ask(client, alias)[1]["x-proxy-provider"] == chain.providers[1]
    assert hits(primary) == 4
    probe.join(10)
    assert results["probe"] == name
    assert circuit(gateway, name)["state"] == "closed"


def test_the_circuit_opening_is_logged_once_with_the_request_that_opened_it(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream,
    gateway: ProxyProcess,
) -> None:
    alias = chain((primary, {"failure_threshold": 2, "max_retries": 0}), (backup, {}))
    name = chain.providers[0]
    primary.add_fault(status=503, times=-1)
    ids = [f"open-{uuid.uuid4().hex[:10]}" for _ in range(4)]
    for rid in ids:
        ask(client, alias, extra_headers={"x-request-id": rid})
    lines = log_lines(gateway, '"circuit opened"', name)
    assert len(lines) == 1
    assert lines[0]["request_id"] == ids[1]  # the second failure tripped it


def test_a_recovered_primary_gets_its_traffic_back_within_twice_recovery_plus_the_interval(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream,
    gateway: ProxyProcess,
) -> None:
    """Scaled-down failover-suite scenario: the primary is down (long enough for several
    failed probes), then recovers; one request every 0.5 s."""
    recovery, interval = 1.0, 0.5
    alias = chain((primary, {"failure_threshold": 1, "recovery_timeout": recovery,
                             "max_retries": 0}), (backup, {}))
    name = chain.providers[0]
    primary.add_fault(status=503, times=-1)
    down_until = time.monotonic() + 10.0
    back_at = None
    recovered_at = None
    while time.monotonic() < down_until + 6:
        now = time.monotonic()
        if recovered_at is None and now >= down_until:
            primary.clear_faults()
            recovered_at = now
        served = ask(client, alias)[1]["x-proxy-provider"]
        if recovered_at is not None and served == name:
            back_at = time.monotonic()
            break
        time.sleep(interval)
    assert recovered_at is not None and back_at is not None, "the primary never came back"
    assert back_at - recovered_at <= 2 * recovery + interval + 0.5
    assert circuit(gateway, name)["recovery_timeout"] <= 2 * recovery


# -- max_retry_wait -----------------------------------------------------------------------


def test_a_short_retry_after_is_waited_out_on_the_preferred_provider(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((primary, {}), (backup, {}))
    primary.add_fault(status=429, retry_after=2)
    started = time.monotonic()
    text, headers = ask(client, alias)
    assert text == ANSWER and headers["x-proxy-provider"] == chain.providers[0]
    assert time.monotonic() - started >= 1.9
    assert headers["x-proxy-attempts"] == "2"


def test_a_retry_after_over_max_retry_wait_moves_on_at_once(
    client: openai.OpenAI, chain: Chain, primary: FakeUpstream, backup: FakeUpstream
) -> None:
    alias = chain((primary, {"max_retry_wait": 1}), (backup, {}))
    primary.add_fault(status=429, retry_after=2)
    started = time.monotonic()
    text, headers = ask(client, alias)
    assert text == ANSWER and headers["x-proxy-provider"] == chain.providers[1]
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("value", [-1, "5", True, 3601, None])
def test_max_retry_wait_is_validated_by_the_admin_api(
    value: object, gateway: ProxyProcess
) -> None:
    resp = gateway.admin.http.post("/admin/providers", json={
        "name": f"mrw-{uuid.uuid4().hex[:8]}", "provider_type": "mock",
        "config": {"max_retry_wait": value}})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == "config.max_retry_wait"


def test_max_retry_wait_zero_is_accepted_and_shown(gateway: ProxyProcess) -> None:
    created = gateway.admin.provider(f"mrw-{uuid.uuid4().hex[:8]}", "mock", max_retry_wait=0)
    assert created["config"]["max_retry_wait"] == 0
