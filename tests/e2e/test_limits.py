"""Rate limits through the real server: per-key RPM and tokens per minute charged from
the usage the provider reports (streams included), with the x-ratelimit-* headers."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from tests.harness import ProxyProcess

pytestmark = pytest.mark.timeout(60)

MSG = [{"role": "user", "content": "Hello there"}]  # mock: 2 prompt + 8 completion tokens


def test_tokens_per_minute_are_charged_from_usage_streams_included(tmp_path: Path) -> None:
    with ProxyProcess(tmp_path) as proc:
        mock = proc.admin.provider("mock", "mock")
        proc.admin.mapping("m", mock["id"], "m")
        key = proc.admin.client_key("tpm", tpm_limit=25)
        with openai.OpenAI(base_url=proc.url + "/v1", api_key=key, max_retries=0) as client:
            raw = client.chat.completions.with_raw_response.create(model="m", messages=MSG)
            assert raw.headers["x-ratelimit-limit-tokens"] == "25"
            assert raw.headers["x-ratelimit-remaining-tokens"] == "25"  # checked before
            # a stream whose client did not ask for usage is charged all the same
            list(client.chat.completions.create(model="m", messages=MSG, stream=True))
            raw = client.chat.completions.with_raw_response.create(model="m", messages=MSG)
            assert raw.headers["x-ratelimit-remaining-tokens"] == "5"  # 2 × 10 used
            with pytest.raises(openai.RateLimitError) as info:
                client.chat.completions.create(model="m", messages=MSG)
        response = info.value.response
        assert int(response.headers["retry-after"]) >= 1
        assert response.headers["x-ratelimit-remaining-tokens"] == "0"
        assert info.value.code == "rate_limit_exceeded"
        metrics = httpx.get(proc.url + "/metrics").text
        assert 'proxy_rate_limited_total{scope="tokens"} 1' in metrics


def test_a_keys_own_rpm_limit_overrides_the_default(tmp_path: Path) -> None:
    with ProxyProcess(tmp_path, env={"RATE_LIMIT_PER_KEY_RPM": "100"}) as proc:
        mock = proc.admin.provider("mock", "mock")
        proc.admin.mapping("m", mock["id"], "m")
        tight = proc.admin.client_key("tight", rpm_limit=2)
        loose = proc.admin.client_key("loose")
        body = {"model": "m", "messages": MSG}
        for n in range(2):
            r = httpx.post(proc.url + "/v1/chat/completions", json=body,
                           headers={"Authorization": f"Bearer {tight}"})
            assert r.status_code == 200
            assert r.headers["x-ratelimit-limit-requests"] == "2"
            assert r.headers["x-ratelimit-remaining-requests"] == str(1 - n)
        refused = httpx.post(proc.url + "/v1/chat/completions", json=body,
                             headers={"Authorization": f"Bearer {tight}"})
        assert refused.status_code == 429
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        ok = httpx.post(proc.url + "/v1/chat/completions", json=body,
                        headers={"Authorization": f"Bearer {loose}"})
        assert ok.status_code == 200 and ok.headers["x-ratelimit-limit-requests"] == "100"


@pytest.mark.parametrize("trusted", [True, False])
def test_per_ip_limit_believes_forwarded_for_only_from_trusted_proxies(
    tmp_path: Path, trusted: bool
) -> None:
    env = {"RATE_LIMIT_PER_IP_RPM": "2"}
    if trusted:
        env["TRUSTED_PROXIES"] = "127.0.0.1/32"
    with ProxyProcess(tmp_path, env=env) as proc:
        mock = proc.admin.provider("mock", "mock")
        proc.admin.mapping("m", mock["id"], "m")
        key = proc.admin.client_key("ip")

        def ask(forwarded: str) -> int:
            return httpx.post(proc.url + "/v1/chat/completions",
                              json={"model": "m", "messages": MSG},
                              headers={"Authorization": f"Bearer {key}",
                                       "X-Forwarded-For": forwarded}).status_code

        assert [ask("1.1.1.1"), ask("1.1.1.1"), ask("1.1.1.1")] == [200, 200, 429]
        # another client behind the trusted proxy has its own budget; untrusted headers
        # are ignored, so every request is the proxy's own address and already spent
        assert ask("2.2.2.2") == (200 if trusted else 429)
