"""Request bodies: read with a cap, parsed, and checked for the fields we rely on.

Only what the gateway itself depends on is checked; other fields pass through to the
provider untouched. Every failure is a 400 naming the offending ``param``.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from supervisors.errors import InvalidRequest

__all__ = ["read_json", "validate_chat", "validate_completions", "validate_embeddings"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


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
    return body


def _require_model(body: dict[str, Any]) -> None:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("you must provide a model parameter", param="model")
    if len(model) > 256:
        raise InvalidRequest("model name is too long", param="model")


def _optional(body: dict[str, Any], name: str, kinds: type | tuple[type, ...], what: str) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise InvalidRequest(f"'{name}' must be {what}", param=name)
    if not isinstance(value, kinds):
        raise InvalidRequest(f"'{name}' must be {what}", param=name)


def _common(body: dict[str, Any]) -> None:
    _require_model(body)
    _optional(body, "stream", bool, "a boolean")
    _optional(body, "stream_options", dict, "an object")
    _optional(body, "temperature", (int, float), "a number")
    _optional(body, "top_p", (int, float), "a number")
    _optional(body, "max_tokens", int, "an integer")
    _optional(body, "max_completion_tokens", int, "an integer")
    _optional(body, "n", int, "an integer")
    _optional(body, "seed", int, "an integer")
    _optional(body, "user", str, "a string")
    _optional(body, "fallbacks", list, "a list of model names")
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if isinstance(value, int) and value < 1:
            raise InvalidRequest(f"'{name}' must be at least 1", param=name)
    n = body.get("n")
    if isinstance(n, int) and n > 128:
        raise InvalidRequest("'n' must be at most 128", param="n")
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str)
        or (isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop))
    ):
        raise InvalidRequest("'stop' must be a string or a list of up to 4 strings", param="stop")


def validate_chat(body: dict[str, Any]) -> None:
    _common(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = message.get("role")
        if role not in _ROLES:
            raise InvalidRequest(
                f"messages[{i}].role must be one of {sorted(_ROLES)}",
                param=f"messages[{i}].role",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise InvalidRequest(
                f"messages[{i}].content must be a string or an array of content parts",
                param=f"messages[{i}].content",
            )
    _optional(body, "tools", list, "an array")
    _optional(body, "response_format", dict, "an object")


def validate_completions(body: dict[str, Any]) -> None:
    _common(body)
    prompt = body.get("prompt")
    if not (
        isinstance(prompt, str)
        or (isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt))
    ):
        raise InvalidRequest("'prompt' must be a string or an array of strings", param="prompt")


def validate_embeddings(body: dict[str, Any]) -> None:
    _require_model(body)
    value = body.get("input")
    ok = (isinstance(value, str) and value != "") or (
        isinstance(value, list)
        and value
        and (
            all(isinstance(v, str) for v in value)
            or all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or all(isinstance(v, list) for v in value)
        )
    )
    if not ok:
        raise InvalidRequest(
            "'input' must be a non-empty string or array of strings or token arrays",
            param="input",
        )
    _optional(body, "encoding_format", str, "a string")
    _optional(body, "dimensions", int, "an integer")
