"""A translated hop is asked for at most its output cap: Claude Code's 32,000 output
tokens reach ``gpt-4o-mini`` (which, like the real API, refuses more than 16,384) as
16,384; a mapping's ``config.max_tokens`` caps its hop; native hops get the client's
value unchanged."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest

from proxy.messages_api.output_cap import output_cap
from proxy.routing import Hop
from tests.fakes import FakeUpstream

from .conftest import OPENAI_KEY

USER = [{"role": "user", "content": "hello"}]


def _last(fake: FakeUpstream, path: str) -> dict[str, Any]:
    body: dict[str, Any] = [r for r in fake.requests if r.path == path][-1].json
    return body


def test_the_fake_refuses_more_than_the_models_output_limit(
        fakes: dict[str, FakeUpstream]) -> None:
    resp = httpx.post(fakes["openai"].base_url + "/chat/completions", timeout=10,
                      headers={"Authorization": f"Bearer {OPENAI_KEY}"},
                      json={"model": "gpt-4o-mini", "messages": USER, "max_tokens": 32000})
    assert resp.status_code == 400
    assert resp.json()["error"]["message"].startswith("max_tokens is too large: 32000.")


@pytest.mark.parametrize("stream", [False, True])
def test_claude_codes_request_is_capped_at_the_models_limit(
        client: anthropic.Anthropic, fakes: dict[str, FakeUpstream], stream: bool) -> None:
    if stream:
        with client.messages.stream(model="gpt", max_tokens=32000, messages=USER) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(model="gpt", max_tokens=32000, messages=USER)
    assert message.stop_reason == "end_turn" and message.content
    assert _last(fakes["openai"], "/v1/chat/completions")["max_completion_tokens"] == 16384


def test_a_mappings_max_tokens_caps_its_hop(client: anthropic.Anthropic,
                                            fakes: dict[str, FakeUpstream]) -> None:
    client.messages.create(model="gpt-capped", max_tokens=32000, messages=USER)
    assert _last(fakes["openai"], "/v1/chat/completions")["max_completion_tokens"] == 100
    client.messages.create(model="gpt-capped", max_tokens=7, messages=USER)
    assert _last(fakes["openai"], "/v1/chat/completions")["max_completion_tokens"] == 7


def test_a_native_hop_gets_the_clients_value(client: anthropic.Anthropic,
                                             fakes: dict[str, FakeUpstream]) -> None:
    client.messages.create(model="claude", max_tokens=32000, messages=USER)
    assert _last(fakes["anthropic"], "/v1/messages")["max_tokens"] == 32000


@pytest.mark.parametrize(("model", "defaults", "cap"), [
    ("gpt-4o", {}, 16384),
    ("gpt-4o-mini-2024-07-18", {}, 16384),
    ("gpt-4o-2024-05-13", {}, 4096),
    ("openai/gpt-4.1-mini", {}, 32768),
    ("gpt-4-0613", {}, 8192),
    ("llama3.2", {}, None),
    ("llama3.2", {"max_tokens": 2048}, 2048),
    ("gpt-4o", {"max_tokens": 30000, "max_completion_tokens": 20000}, 20000),
    ("gpt-4o", {"max_tokens": "lots"}, 16384),
])
def test_output_cap(model: str, defaults: dict[str, Any], cap: int | None) -> None:
    hop = Hop("p", model, "openai", defaults)
    assert output_cap(hop) == cap
