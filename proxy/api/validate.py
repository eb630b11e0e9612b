"""Request bodies: read with a cap, parsed, and checked for the shapes we rely on.

Every field the gateway or an adapter reads is checked for the shape and range the real
OpenAI API accepts, so no adapter ever meets a shape it cannot handle; other fields pass
through to the provider untouched (bounded in depth and free of NUL, see ``body_tree``).
Every failure is a 400 naming the offending ``param``. Per field the cost is one dict
lookup and one small check: a field table per endpoint, walked once over the body.

The same tables give ``/openapi.json`` its request schemas (``chat_schema`` ...): each
check carries its JSON Schema (``field_checks.schema_of``), so a field added to a table
is both checked and documented.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from supervisors.errors import InvalidRequest

from .body_tree import check_tree
from .chat_shapes import (
    ROLES,
    check_messages,
    check_response_format,
    check_tool_choice,
    check_tools,
    clean_name,
)
from .field_checks import (
    Check,
    boolean,
    described,
    integer,
    number,
    obj,
    optional_string,
    schema_of,
    string_list,
    strings_map,
)

__all__ = [
    "chat_schema",
    "completions_schema",
    "embeddings_schema",
    "read_json",
    "validate_chat",
    "validate_completions",
    "validate_embeddings",
]


async def read_json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request. Send valid JSON."
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    check_tree(raw, body)
    return body


def _model(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("you must provide a model parameter", param="model")
    clean_name(value, "model")


def _stop(name: str, value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    if not (isinstance(value, list) and len(value) <= 4
            and all(isinstance(s, str) for s in value)):
        raise InvalidRequest("'stop' must be a string or a list of up to 4 strings", param="stop")


def _fallbacks(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, list) or len(value) > 16:
        raise InvalidRequest("'fallbacks' must be a list of up to 16 model names", param=name)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise InvalidRequest(f"'fallbacks[{i}]' must be a model name", param=name)
        clean_name(item, name)


def _stream_options(name: str, value: Any) -> None:
    if value is None:
        return
    obj(name, value)
    boolean(f"{name}.include_usage", value.get("include_usage"))


_INT32 = 2**31 - 1
_INT64 = 2**63 - 1

#: fields every text-generating endpoint shares: name → check(name, value)
_SAMPLING: dict[str, Check] = {
    "model": _model,
    "stream": boolean,
    "stream_options": _stream_options,
    "temperature": number(0, 2),
    "top_p": number(0, 1),
    "top_k": integer(0, _INT32),
    "presence_penalty": number(-2, 2),
    "frequency_penalty": number(-2, 2),
    "max_tokens": integer(1, _INT32),
    "max_completion_tokens": integer(1, _INT32),
    "n": integer(1, 128),
    "seed": integer(-_INT64 - 1, _INT64),
    "stop": _stop,
    "user": optional_string,
    "logit_bias": strings_map(number(-100, 100)),
    "fallbacks": _fallbacks,
}

_CHAT: dict[str, Check] = {
    **_SAMPLING,
    "messages": check_messages,
    "tools": check_tools,
    "tool_choice": check_tool_choice,
    "parallel_tool_calls": boolean,
    "response_format": check_response_format,
    "logprobs": boolean,
    "top_logprobs": integer(0, 20),
    "metadata": strings_map(optional_string),
    "store": boolean,
    "reasoning_effort": optional_string,
    "verbosity": optional_string,
    "service_tier": optional_string,
    "modalities": string_list,
    "audio": obj,
    "prediction": obj,
    "web_search_options": obj,
    "safety_identifier": optional_string,
    "prompt_cache_key": optional_string,
}


def _prompt(name: str, value: Any) -> None:
    if not (
        isinstance(value, str)
        or (isinstance(value, list) and value and all(isinstance(p, str) for p in value))
    ):
        raise InvalidRequest("'prompt' must be a string or an array of strings", param="prompt")


_COMPLETIONS: dict[str, Check] = {
    **_SAMPLING,
    "prompt": _prompt,
    "suffix": optional_string,
    "echo": boolean,
    "best_of": integer(1, 20),
    "logprobs": integer(0, 5),
}


def _embedding_input(name: str, value: Any) -> None:
    ok = (isinstance(value, str) and value != "") or (
        isinstance(value, list)
        and 0 < len(value) <= 2048
        and (
            all(isinstance(v, str) for v in value)
            or all(_token(v) for v in value)
            or all(isinstance(v, list) and v and all(_token(t) for t in v) for v in value)
        )
    )
    if not ok:
        raise InvalidRequest(
            "'input' must be a non-empty string, an array of up to 2048 strings, "
            "or token arrays",
            param="input",
        )


def _token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _INT32


def _encoding_format(name: str, value: Any) -> None:
    if value is not None and value not in ("float", "base64"):
        raise InvalidRequest("'encoding_format' must be 'float' or 'base64'", param=name)


_EMBEDDINGS: dict[str, Check] = {
    "model": _model,
    "input": _embedding_input,
    "encoding_format": _encoding_format,
    "dimensions": integer(1, _INT32),
    "user": optional_string,
    "fallbacks": _fallbacks,
}


def _checker(fields: dict[str, Check], required: tuple[str, ...]) -> Callable[[dict[str, Any]],
                                                                             None]:
    get = fields.get

    def validate(body: dict[str, Any]) -> None:
        for name in required:
            if name not in body:
                fields[name](name, None)  # each required check refuses None with its message
        for name, value in body.items():
            check = get(name)
            if check is not None:
                check(name, value)

    return validate


validate_chat = _checker(_CHAT, ("model", "messages"))
validate_completions = _checker(_COMPLETIONS, ("model", "prompt"))
validate_embeddings = _checker(_EMBEDDINGS, ("model", "input"))


# -- the JSON Schemas of the tables' own checks, for /openapi.json ---------------------------

_NAME = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": r"\S"}
described(_model, _NAME)
described(_stop, {"anyOf": [{"type": ["string", "null"]},
                            {"type": "array", "maxItems": 4, "items": {"type": "string"}}]})
described(_fallbacks, {"type": ["array", "null"], "maxItems": 16, "items": _NAME})
described(_stream_options, {"type": ["object", "null"],
                            "properties": {"include_usage": {"type": ["boolean", "null"]}}})
described(_prompt, {"anyOf": [{"type": "string"},
                              {"type": "array", "minItems": 1, "items": {"type": "string"}}]})
_TOKENS = {"type": "array", "minItems": 1, "maxItems": 2048,
           "items": {"type": "integer", "minimum": 0, "maximum": _INT32}}
described(_embedding_input, {"anyOf": [
    {"type": "string", "minLength": 1},
    {"type": "array", "minItems": 1, "maxItems": 2048, "items": {"type": "string"}},
    _TOKENS,
    {"type": "array", "minItems": 1, "maxItems": 2048,
     "items": {"type": "array", "minItems": 1, "items": _TOKENS["items"]}},
]})
described(_encoding_format, {"enum": ["float", "base64", None]})
described(check_messages, {"type": "array", "minItems": 1, "items": {
    "type": "object", "required": ["role"],
    "properties": {"role": {"enum": sorted(ROLES)},
                   "content": {"type": ["string", "array", "null"]}}}})
described(check_tools, {"type": ["array", "null"], "items": {"type": "object"}})
described(check_tool_choice, {"type": ["string", "object", "null"]})
described(check_response_format, {"type": ["object", "null"]})


def _schema(fields: dict[str, Check], required: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "object", "required": list(required),
            "properties": {name: schema_of(check) for name, check in fields.items()}}


def chat_schema() -> dict[str, Any]:
    return _schema(_CHAT, ("model", "messages"))


def completions_schema() -> dict[str, Any]:
    return _schema(_COMPLETIONS, ("model", "prompt"))


def embeddings_schema() -> dict[str, Any]:
    return _schema(_EMBEDDINGS, ("model", "input"))
