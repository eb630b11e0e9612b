"""The Messages request checks on their own: Anthropic's wording and path for each shape
it enforces, and what Claude Code sends passes (the hostile-input fuzz in
tests/hardening attacks the same paths through the gateway on every provider type)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from proxy.messages_api.validate import validate_count_tokens, validate_messages
from supervisors.errors import InvalidRequest

BASE: dict[str, Any] = {
    "model": "m", "max_tokens": 16,
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": [{"type": "text", "text": "sunny"}]}]},
    ],
}


def _block(i: int, j: int, **changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda b: b["messages"][i]["content"][j].update(changes)


CASES: list[tuple[Callable[[dict[str, Any]], None], str]] = [
    (_block(0, 0, text=5), "messages.0.content.0.text.text: Input should be a valid string"),
    (_block(0, 0, text=None), "messages.0.content.0.text.text: Field required"),
    (_block(0, 0, cache_control="x"),
     "messages.0.content.0.text.cache_control: Input should be a valid dictionary"),
    (_block(1, 0, input=[]),
     "messages.1.content.0.tool_use.input: Input should be a valid dictionary"),
    (_block(1, 0, name=["x"]), "messages.1.content.0.tool_use.name: Input should be a valid string"),
    (_block(1, 0, id=7), "messages.1.content.0.tool_use.id: Input should be a valid string"),
    (_block(2, 0, tool_use_id=1),
     "messages.2.content.0.tool_result.tool_use_id: Input should be a valid string"),
    (_block(2, 0, content=5),
     "messages.2.content.0.tool_result.content: Input should be a valid string or list"),
    (_block(2, 0, content=[{"type": "text", "text": 1.5}]),
     "messages.2.content.0.tool_result.content.0.text.text: Input should be a valid string"),
    (_block(2, 0, is_error="yes"),
     "messages.2.content.0.tool_result.is_error: Input should be a valid boolean"),
    (_block(0, 0, type="image", source={"type": "base64", "media_type": "image/bmp", "data": "x"}),
     "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', "
     "'image/png', 'image/gif' or 'image/webp'"),
    (_block(0, 0, type="image", source={"type": "url", "url": 5}),
     "messages.0.content.0.image.source.url.url: Input should be a valid string"),
    (_block(0, 0, type="image", source={"type": "ftp"}),
     "messages.0.content.0.image.source: Input tag 'ftp' found using 'type' does not match "
     "any of the expected tags: 'base64', 'url', 'file'"),
    (_block(0, 0, type="document", source={"type": "text", "media_type": "text/plain"}),
     "messages.0.content.0.document.source.text.data: Field required"),
    (_block(1, 0, type="thinking", thinking="hm"),
     "messages.1.content.0.thinking.signature: Field required"),
    (_block(0, 0, type=5), "messages.0.content.0: Unable to extract tag using discriminator 'type'"),
    (lambda b: b["messages"][0].update(content=[]),
     "messages.0: all messages must have non-empty content except for the optional final "
     "assistant message"),
    (lambda b: b["messages"][0].update(role="tool"),
     "messages.0.role: Input should be 'user' or 'assistant'"),
    (lambda b: b.update(system=[{"type": "text", "text": 5}]),
     "system.0.text: Input should be a valid string"),
    (lambda b: b.update(tools=[{"name": "t"}]), "tools.0.custom.input_schema: Field required"),
    (lambda b: b.update(tools=[{"type": "web_search_20250305"}]),
     "tools.0.web_search_20250305.name: Field required"),
    (lambda b: b.update(tool_choice={"type": "tool"}), "tool_choice.tool.name: Field required"),
    (lambda b: b.update(tool_choice={"type": "auto", "disable_parallel_tool_use": "no"}),
     "tool_choice.auto.disable_parallel_tool_use: Input should be a valid boolean"),
    (lambda b: b.update(stop_sequences=["a", 5]), "stop_sequences.1: Input should be a valid string"),
    (lambda b: b.update(max_tokens=1.5), "max_tokens: Input should be a valid integer"),
    (lambda b: b.update(max_tokens=0), "max_tokens: Input should be greater than or equal to 1"),
    (lambda b: b.update(temperature=1.5), "temperature: Input should be less than or equal to 1"),
    (lambda b: b.update(top_p=-0.1), "top_p: Input should be greater than or equal to 0"),
    (lambda b: b.update(metadata={"user_id": 5}), "metadata.user_id: Input should be a valid string"),
    (lambda b: b.update(stream="yes"), "stream: Input should be a valid boolean"),
]


@pytest.mark.parametrize(("change", "message"), CASES, ids=[m.split(":")[0] for _, m in CASES])
def test_refused_with_anthropics_wording(change: Callable[[dict[str, Any]], None],
                                         message: str) -> None:
    body = copy.deepcopy(BASE)
    change(body)
    with pytest.raises(InvalidRequest) as caught:
        validate_messages(body)
    assert caught.value.message == message
    assert caught.value.status == 400


def test_what_claude_code_sends_passes() -> None:
    body = copy.deepcopy(BASE)
    body["messages"].insert(0, {"role": "system", "content": "folded into the system prompt"})
    body["messages"][1]["content"].append({"type": "future_block", "anything": [1]})
    body.update(
        system=[{"type": "text", "text": "You are Claude Code",
                 "cache_control": {"type": "ephemeral"}}],
        tools=[{"name": "Read", "input_schema": {"type": "object"}},
               {"type": "web_search_20250305", "name": "web_search"}],
        thinking={"type": "enabled", "budget_tokens": 1024}, stream=True,
        output_config={"effort": "high"}, context_management={"edits": []},
        metadata={"user_id": "session-1"}, temperature=1,
    )
    validate_messages(body)
    body.pop("max_tokens")
    validate_count_tokens(body)
