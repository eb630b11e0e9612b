"""The ingresses the hardening tests attack, as a table: adding a front end to the fuzz
and auth tests is one ``Ingress`` entry in ``INGRESSES``.

* ``valid(alias)``: a minimal request the ingress answers with 200 through the alias;
* ``sample``: every field the ingress (or an adapter behind it) reads, with valid
  values, nested objects included — merged with ``valid`` it is still a valid request
  for every provider type in ``serves`` (a test checks that);
* ``hostile_fields``: more fields ``test_messages_hostile`` replaces one by one;
* ``types``: field pattern (``messages.*.content``; ``*`` is any list index) → kind of
  value (a key of ``fuzz.WRONG``) for each field the ingress checks; ``ranges``: pattern
  → out-of-range values; ``required``: top-level fields that must be there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["INGRESSES", "Ingress"]

ALL_TYPES = frozenset({"openai", "anthropic", "ollama", "mock"})
HUGE = [2**64 - 1, 2**64 * 10, -(2**63) - 10, 1e308, -1e308]


@dataclass(frozen=True)
class Ingress:
    name: str
    path: str
    valid: Callable[[str], dict[str, Any]]
    #: provider types that answer it (the others answer a clean 400)
    serves: frozenset[str]
    sample: dict[str, Any]
    types: dict[str, str]
    ranges: dict[str, list[Any]] = field(default_factory=dict)
    required: tuple[str, ...] = ("model",)
    headers: dict[str, str] = field(default_factory=dict)
    #: fields other tests replace one by one with hostile values (default: ``sample``)
    hostile_fields: dict[str, Any] | None = None

    @property
    def fields(self) -> dict[str, Any]:
        return self.hostile_fields if self.hostile_fields is not None else self.sample


_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
_CALL = {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}
_SAMPLING_RANGES = {
    "temperature": [2.5, -0.1, *HUGE], "top_p": [1.5, -1, *HUGE], "n": [0, 129, *HUGE],
    "max_tokens": [0, -5, *HUGE], "presence_penalty": [3, -3, *HUGE],
    "frequency_penalty": [2.01, *HUGE], "seed": HUGE[:3],
}

CHAT = Ingress(
    "chat", "/v1/chat/completions",
    lambda alias: {"model": alias, "messages": [{"role": "user", "content": "hello"}]},
    ALL_TYPES,
    sample={
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
        "tool_choice": "auto",
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "answer", "schema": {"type": "object"}}},
        "stop": ["\n\n"],
        "n": 1,
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 20,
        "seed": 7,
        "stream": False,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "logit_bias": {"50256": -100},
        "user": "u-1",
        "parallel_tool_calls": True,
        "metadata": {"k": "v"},
        "fallbacks": ["mk"],
    },
    types={
        "model": "str", "messages": "list", "messages.*": "dict", "messages.*.role": "enum",
        "messages.*.content": "str|list", "messages.*.content.*": "dict",
        "messages.*.content.*.type": "enum", "messages.*.content.*.text": "str",
        "messages.*.content.*.image_url": "str|dict",
        "messages.*.content.*.image_url.url": "str",
        "messages.*.tool_calls": "list", "messages.*.tool_calls.*": "dict",
        "messages.*.tool_calls.*.id": "str", "messages.*.tool_calls.*.function": "dict",
        "messages.*.tool_calls.*.function.name": "str",
        "messages.*.tool_calls.*.function.arguments": "str",
        "messages.*.tool_call_id": "str",
        "tools": "list", "tools.*": "dict", "tools.*.function": "dict",
        "tools.*.function.name": "str", "tools.*.function.description": "str",
        "tools.*.function.parameters": "dict", "tool_choice": "enum",
        "response_format": "dict", "response_format.type": "enum",
        "response_format.json_schema": "dict", "response_format.json_schema.name": "str",
        "response_format.json_schema.schema": "dict",
        "stop": "strs", "stop.*": "str", "n": "int", "temperature": "num", "top_p": "num",
        "max_tokens": "int", "seed": "int", "stream": "bool", "presence_penalty": "num",
        "frequency_penalty": "num", "logit_bias": "dict", "logit_bias.50256": "num",
        "user": "str", "parallel_tool_calls": "bool", "metadata": "dict", "metadata.k": "str",
        "fallbacks": "strs", "fallbacks.*": "str",
    },
    ranges={**_SAMPLING_RANGES, "logit_bias.50256": [101, -101, *HUGE],
            "stop": [["a", "b", "c", "d", "e"]]},
    required=("model", "messages"),
)

COMPLETIONS = Ingress(
    "completions", "/v1/completions",
    lambda alias: {"model": alias, "prompt": "Say hi"},
    ALL_TYPES,
    sample={"prompt": "Say hi", "stop": "\n", "n": 1, "temperature": 0.5, "top_p": 1,
            "max_tokens": 20, "stream": False, "seed": 1, "user": "u-1"},
    types={"model": "str", "prompt": "strs", "stop": "strs", "n": "int", "temperature": "num",
           "top_p": "num", "max_tokens": "int", "stream": "bool", "seed": "int",
           "user": "str"},
    ranges=_SAMPLING_RANGES,
    required=("model", "prompt"),
)

EMBEDDINGS = Ingress(
    "embeddings", "/v1/embeddings",
    lambda alias: {"model": alias, "input": "hello"},
    frozenset({"openai", "ollama", "mock"}),
    sample={"input": ["hello", "world"], "encoding_format": "float", "user": "u-1"},
    types={"model": "str", "input": "inputs", "input.*": "str", "encoding_format": "enum",
           "user": "str"},
    ranges={"input": [[], "", [[]], [True], [-1], [2**40]]},
    required=("model", "input"),
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
    lambda alias: {"model": alias, "max_tokens": 32,
                   "messages": [{"role": "user", "content": "hello"}]},
    ALL_TYPES,
    sample={
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "what is the weather?",
                 "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": "iVBORw0KGgo="}},
                {"type": "document", "title": "notes", "source": {
                    "type": "text", "media_type": "text/plain", "data": "Paris in May"}},
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "look it up", "signature": "c2lnbmF0dXJl"},
                {"type": "redacted_thinking", "data": "cmVkYWN0ZWQ="},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                 "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": False,
                 "content": [{"type": "text", "text": "sunny"}]},
                {"type": "text", "text": "thanks"}]},
        ],
        "tools": [{"name": "get_weather", "description": "Weather of a city",
                   "input_schema": {"type": "object",
                                    "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        "stop_sequences": ["\n\nHuman:"],
        "temperature": 0.5,
        "top_p": 0.9,
        "metadata": {"user_id": "u-1"},
        "thinking": {"type": "disabled"},
        "output_config": {"effort": "low"},
        "stream": False,
    },
    # every path messages_api.validate checks (a block's ``type`` and a tool's ``type``
    # are left out: an unknown one is passed on to anthropic hops, by design)
    types={
        "model": "str", "max_tokens": "int", "messages": "list", "messages.*": "dict",
        "messages.*.role": "enum", "messages.*.content": "str|list",
        "messages.*.content.*": "dict", "messages.*.content.*.text": "str",
        "messages.*.content.*.cache_control": "dict", "messages.*.content.*.source": "dict",
        "messages.*.content.*.source.type": "enum",
        "messages.*.content.*.source.media_type": "enum",
        "messages.*.content.*.source.data": "str", "messages.*.content.*.title": "str",
        "messages.*.content.*.thinking": "str", "messages.*.content.*.signature": "str",
        "messages.*.content.*.data": "str", "messages.*.content.*.id": "str",
        "messages.*.content.*.name": "str", "messages.*.content.*.input": "dict",
        "messages.*.content.*.tool_use_id": "str", "messages.*.content.*.is_error": "bool",
        "messages.*.content.*.content": "str|list", "messages.*.content.*.content.*": "dict",
        "messages.*.content.*.content.*.text": "str",
        "system": "str|list", "system.*": "dict", "system.*.type": "enum",
        "system.*.text": "str", "system.*.cache_control": "dict",
        "tools": "list", "tools.*": "dict", "tools.*.name": "str",
        "tools.*.description": "str", "tools.*.input_schema": "dict",
        "tool_choice": "dict", "tool_choice.type": "enum", "tool_choice.name": "str",
        "tool_choice.disable_parallel_tool_use": "bool",
        "stop_sequences": "strs", "stop_sequences.*": "str", "temperature": "num",
        "top_p": "num", "metadata": "dict", "metadata.user_id": "str", "thinking": "dict",
        "output_config": "dict", "output_config.effort": "str", "stream": "bool",
    },
    ranges={"max_tokens": [0, -1], "temperature": [1.5, -0.1, *HUGE],
            "top_p": [1.5, -1, *HUGE]},
    required=("model", "messages", "max_tokens"),
    headers={"anthropic-version": "2023-06-01"},
    hostile_fields=_MESSAGES_FIELDS,
)

_COUNT_FIELDS = ("messages", "system", "tools", "tool_choice", "thinking")
COUNT_TOKENS = Ingress(
    "count_tokens", "/v1/messages/count_tokens",
    lambda alias: {"model": alias, "messages": [{"role": "user", "content": "hello"}]},
    ALL_TYPES,
    sample={k: v for k, v in MESSAGES.sample.items() if k in _COUNT_FIELDS},
    types={k: v for k, v in MESSAGES.types.items()
           if k == "model" or k.split(".")[0] in _COUNT_FIELDS},
    required=("model", "messages"),
    headers={"anthropic-version": "2023-06-01"},
    hostile_fields={k: v for k, v in _MESSAGES_FIELDS.items()
                    if k in (*_COUNT_FIELDS, "thinking")},
)

RESPONSES = Ingress(
    "responses", "/v1/responses",
    lambda alias: {"model": alias, "input": "hello", "store": False},
    ALL_TYPES,
    sample={
        "instructions": "be brief",
        "input": [
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "what is the weather?"}]},
        ],
        "tools": [{"type": "function", "name": "get_weather", "description": "Weather",
                   "parameters": {"type": "object",
                                  "properties": {"city": {"type": "string"}}}}],
        "tool_choice": "auto",
        "temperature": 0.5,
        "top_p": 0.9,
        "max_output_tokens": 32,
        "parallel_tool_calls": True,
        "metadata": {"k": "v"},
        "user": "u-1",
        "stream": False,
    },
    types={
        "model": "str", "input": "str|list", "input.*": "dict", "input.*.role": "enum",
        "input.*.content": "str|list", "input.*.content.*": "dict",
        "input.*.content.*.type": "enum", "input.*.content.*.text": "str",
        "instructions": "str", "tools": "list", "tools.*": "dict", "tools.*.name": "str", "tools.*.parameters": "dict", "tool_choice": "enum",
        "temperature": "num", "top_p": "num", "max_output_tokens": "int",
        "parallel_tool_calls": "bool", "metadata": "dict", "metadata.k": "str",
        "user": "str", "stream": "bool", "store": "bool",
    },
    ranges={"temperature": [2.5, -1, *HUGE], "top_p": [1.5, *HUGE],
            "max_output_tokens": [0, -1]},
    required=("model", "input"),
)

INGRESSES: list[Ingress] = [CHAT, COMPLETIONS, EMBEDDINGS, RESPONSES, MESSAGES, COUNT_TOKENS]
