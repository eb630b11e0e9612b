"""What the gateway records about requests served by each provider type: token metrics
and the audit trail name the provider and upstream model that served, with its usage."""

from __future__ import annotations

import uuid

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

from .observe import audit_record, metric_total, wait_for_metric

pytestmark = pytest.mark.timeout(30)

ASK5: list[ChatCompletionMessageParam] = [{"role": "user", "content": "tokens:5"}]


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize(("alias", "provider", "model"), [
    ("claude", "claude", "claude-sonnet-4-5"),
    ("llama", "llama", "llama3.2"),
    ("oai", "oai", "gpt-4o-mini"),
])
def test_tokens_and_audit_per_provider_type(
    gateway: ProxyProcess, client: openai.OpenAI, fakes: dict[str, FakeUpstream],
    alias: str, provider: str, model: str, stream: bool,
) -> None:
    labels = {"provider": provider, "model": model}
    before = metric_total(gateway, "proxy_tokens_total", kind="completion", **labels)
    request_id = f"acct-{uuid.uuid4().hex[:12]}"
    if stream:  # without include_usage: the gateway still counts what the upstream reported
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model=alias, messages=ASK5, stream=True,
            extra_headers={"x-request-id": request_id}) if c.choices)
    else:
        text = client.chat.completions.create(
            model=alias, messages=ASK5,
            extra_headers={"x-request-id": request_id}).choices[0].message.content or ""
    assert text == "word0 word1 word2 word3 word4"
    after = wait_for_metric(gateway, "proxy_tokens_total", before + 5,
                            {"kind": "completion", **labels})
    assert after - before == 5
    record = audit_record(gateway, request_id)
    assert (record["alias"], record["provider"], record["upstream_model"]) == (
        alias, provider, model)
    assert (record["status"], record["stream"], record["attempts"]) == (200, stream, 1)
    assert (record["prompt_tokens"], record["completion_tokens"], record["total_tokens"]) == (
        1, 5, 6)
    assert record["fallback_reasons"] == []


def test_chain_audit_names_the_serving_hop_and_why_others_failed(
    gateway: ProxyProcess, client: openai.OpenAI, fakes: dict[str, FakeUpstream]
) -> None:
    fakes["openai"].add_fault(times=-1, model="gpt-4o", status=503)
    fakes["anthropic"].add_fault(times=-1, model="claude-sonnet-4-5", status=529)
    request_id = f"chain-{uuid.uuid4().hex[:12]}"
    client.chat.completions.create(model="gpt-4", messages=ASK5,
                                   extra_headers={"x-request-id": request_id})
    record = audit_record(gateway, request_id)
    assert (record["alias"], record["provider"], record["upstream_model"]) == (
        "gpt-4", "chain-llama", "llama3.2")
    assert record["attempts"] == 4
    assert record["fallback_reasons"] == ["upstream_503", "upstream_529"]
    assert record["completion_tokens"] == 5
    for seen in fakes["openai"].requests + fakes["anthropic"].requests + fakes["ollama"].requests:
        assert {k.lower(): v for k, v in seen.headers.items()}["x-request-id"] == request_id
