"""The ingresses the hardening tests attack, as a table: adding a front end to the fuzz
and auth tests is one entry here.

``valid(alias)`` is a minimal request that the ingress answers with 200 through any
provider type; ``fields`` maps every field the ingress (or an adapter behind it) reads
to a sample of its valid value, which the fuzz generator then breaks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["INGRESSES", "Ingress"]


@dataclass(frozen=True)
class Ingress:
    name: str
    path: str
    valid: Callable[[str], dict[str, Any]]
    #: provider types that can serve it (the others answer a clean 400)
    provider_types: frozenset[str]
    #: field → a valid sample value (nested objects included), for the mutators
    fields: dict[str, Any]


_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
_CALL = {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}

CHAT = Ingress(
    "chat", "/v1/chat/completions",
    lambda alias: {"model": alias, "messages": [{"role": "user", "content": "hello"}]},
    frozenset({"openai", "anthropic", "ollama", "mock"}),
    {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ]},
            {"role": "assistant", "content": "", "tool_calls": [_CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "user", "content": "thanks"},
        ],
        "tools": [_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "answer", "schema": {"type": "object"}}},
        "stop": ["\n\n"],
        "n": 1,
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 20,
        "max_completion_tokens": 20,
        "seed": 7,
        "stream": False,
        "stream_options": {"include_usage": True},
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "logit_bias": {"50256": -100},
        "user": "u-1",
        "parallel_tool_calls": True,
        "metadata": {"k": "v"},
        "fallbacks": ["oa"],
    },
)

COMPLETIONS = Ingress(
    "completions", "/v1/completions",
    lambda alias: {"model": alias, "prompt": "Say hi"},
    frozenset({"openai", "anthropic", "ollama", "mock"}),
    {
        "prompt": "Say hi",
        "stop": "\n",
        "n": 1,
        "temperature": 0.5,
        "max_tokens": 20,
        "stream": False,
        "echo": False,
        "best_of": 1,
        "logprobs": 0,
        "suffix": "",
        "user": "u-1",
    },
)

EMBEDDINGS = Ingress(
    "embeddings", "/v1/embeddings",
    lambda alias: {"model": alias, "input": "hello"},
    frozenset({"openai", "ollama", "mock"}),
    {
        "input": ["hello", "world"],
        "encoding_format": "float",
        "dimensions": 8,
        "user": "u-1",
    },
)

_RESPONSES_TOOL = {"type": "function", "name": "get_weather", "description": "Weather of a city",
                  "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                 "required": ["city"]}}

RESPONSES = Ingress(
    "responses", "/v1/responses",
    lambda alias: {"model": alias, "input": "hello"},
    frozenset({"openai", "anthropic", "ollama", "mock"}),
    {
        "input": [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "input_text", "text": "what is this?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=",
                 "detail": "low"},
            ]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather",
             "arguments": "{\"city\": \"Paris\"}", "id": "fc_1"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"role": "assistant", "content": [{"type": "output_text", "text": "sunny"}]},
            {"role": "user", "content": "thanks"},
        ],
        "instructions": "be brief",
        "tools": [_RESPONSES_TOOL, {"type": "web_search"}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": True,
        "text": {"format": {"type": "json_schema", "name": "answer",
                            "schema": {"type": "object"}}},
        "temperature": 0.5,
        "top_p": 0.9,
        "max_output_tokens": 20,
        "store": False,
        "stream": False,
        "metadata": {"k": "v"},
        "user": "u-1",
        "previous_response_id": "resp_0",
        "reasoning": {"effort": "low", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "k",
        "truncation": "auto",
        "service_tier": "auto",
        "fallbacks": ["oa"],
    },
)

_MESSAGES_FIELDS: dict[str, Any] = {
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "what is this?", "cache_control": {"type": "ephemeral"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "iVBORw0KGgo="}},
        ]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
             "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
            {"type": "text", "text": "thanks"}]},
    ],
    "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
    "tools": [{"name": "get_weather", "description": "Weather of a city",
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    "stop_sequences": ["\n\n"],
    "temperature": 0.5,
    "top_p": 0.9,
    "max_tokens": 20,
    "stream": False,
    "metadata": {"user_id": "u-1"},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "output_config": {"effort": "low"},
    "context_management": {"edits": []},
    "fallbacks": ["oa"],
}

MESSAGES = Ingress(
    "messages", "/v1/messages",
    lambda alias: {"model": alias, "max_tokens": 20,
                   "messages": [{"role": "user", "content": "hello"}]},
    frozenset({"openai", "anthropic", "ollama", "mock"}),
    _MESSAGES_FIELDS,
)

COUNT_TOKENS = Ingress(
    "count_tokens", "/v1/messages/count_tokens",
    lambda alias: {"model": alias, "messages": [{"role": "user", "content": "hello"}]},
    frozenset({"openai", "anthropic", "ollama", "mock"}),
    {k: v for k, v in _MESSAGES_FIELDS.items()
     if k in ("messages", "system", "tools", "tool_choice", "thinking")},
)

INGRESSES: list[Ingress] = [CHAT, COMPLETIONS, EMBEDDINGS, RESPONSES, MESSAGES, COUNT_TOKENS]
