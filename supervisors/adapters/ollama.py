"""``ollama`` provider: the native API (``/api/chat``, ``/api/embed``, ``/api/tags``).

Request translation (OpenAI → Ollama), decisions worth knowing:

* ``stream`` is always sent (Ollama streams unless told not to).
* ``system`` and ``developer`` messages stay in place with role ``system``; text parts
  of one message are joined with newlines; images must be ``data:`` URLs (sent in the
  message's ``images`` list) since the adapter does no I/O; ``http(s)`` images are a 400.
* Assistant ``tool_calls`` go as Ollama tool calls with object arguments; ``tool``
  messages go with role ``tool`` and ``tool_name`` taken from the matching earlier call.
* ``tools`` pass through (Ollama takes OpenAI's function schema); ``tool_choice: "none"``
  leaves the tools out; other ``tool_choice`` values have no Ollama equivalent.
* ``options``: ``temperature``, ``top_p``, ``top_k``, ``seed``, ``stop``,
  ``presence_penalty``, ``frequency_penalty`` and ``num_predict`` (from
  ``max_completion_tokens`` / ``max_tokens``), over defaults from
  ``config.extra["options"]`` (e.g. ``num_ctx``); ``config.extra["keep_alive"]`` is sent
  as ``keep_alive``.
* ``response_format`` ``json_object`` → ``format: "json"``; ``json_schema`` → ``format``
  set to the schema. ``n`` > 1 is a 400; ``logprobs``, ``logit_bias``, ``user`` and other
  OpenAI-only fields are dropped.
* Embeddings take text only (a string or a list of strings); ``dimensions`` passes
  through; ``encoding_format: "base64"`` is honoured by encoding the floats here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import (
    ContextLengthExceeded,
    InvalidRequest,
    ProxyError,
    UpstreamError,
    UpstreamStatusError,
)
from ..messages import Op, Result
from ..spec import ProviderSpec
from .base import StreamDecoder, UpstreamRequest, parse_retry_after
from .completions import completion_to_chat
from .ollama_stream import OllamaStreamDecoder, chat_result
from .openai_shapes import (
    CompletionsStream,
    content_text,
    floats_base64,
    load_object,
    max_tokens_of,
    parse_data_url,
    stop_list,
    to_op_result,
    tool_arguments,
    wants_usage,
)

__all__ = ["OllamaAdapter", "parse_ollama_error", "parse_tags", "tags_request"]

_JSON = "application/json"
_CONTEXT = re.compile(
    r"context length|context window|exceeds the (maximum )?context|prompt is too long",
    re.IGNORECASE,
)
#: OpenAI name → Ollama ``options`` name
_OPTIONS = (
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("seed", "seed"),
    ("presence_penalty", "presence_penalty"),
    ("frequency_penalty", "frequency_penalty"),
)


class OllamaAdapter:
    type = "ollama"
    ops: frozenset[Op] = frozenset(("chat", "completions", "embeddings"))

    def build_request(
        self, op: Op, body: dict[str, Any], *, stream: bool, spec: ProviderSpec, key: str | None
    ) -> UpstreamRequest:
        extra = spec.config.extra
        if op == "embeddings":
            path, payload = "/api/embed", to_embed_request(body, extra)
        else:
            chat = completion_to_chat(body) if op == "completions" else body
            path, payload = "/api/chat", to_chat_request(chat, stream=stream, extra=extra)
        headers = _headers(spec, key, "application/x-ndjson" if stream else _JSON)
        return UpstreamRequest(
            "POST", spec.base_url.rstrip("/") + path, headers, orjson.dumps(payload)
        )

    def parse_response(self, op: Op, body: bytes, request: dict[str, Any]) -> Result:
        obj = load_object(body)
        if "error" in obj:
            raise UpstreamError(f"upstream error: {obj['error']}")
        model = str(request.get("model") or "")
        if op == "embeddings":
            return Result(_embeddings(obj, request))
        try:
            return to_op_result(op, chat_result(obj, model))
        except ValueError as exc:
            raise UpstreamError(f"upstream returned an unusable answer: {exc}") from exc

    def parse_error(
        self, status: int, body: bytes, headers: Mapping[str, str], provider: str
    ) -> ProxyError:
        return parse_ollama_error(status, body, headers, provider)

    def stream_decoder(self, op: Op, request: dict[str, Any]) -> StreamDecoder:
        if op == "embeddings":
            raise InvalidRequest("embeddings cannot be streamed", param="stream")
        decoder = OllamaStreamDecoder(wants_usage(request), str(request.get("model") or ""))
        return CompletionsStream(decoder) if op == "completions" else decoder


def _headers(spec: ProviderSpec, key: str | None, accept: str) -> dict[str, str]:
    headers = {"content-type": _JSON, "accept": accept}
    for name, value in spec.config.headers.items():
        headers[name.lower()] = value
    if key:  # Ollama itself takes no key; a gateway in front of it may
        headers["authorization"] = "Bearer " + key
    return headers


def tags_request(spec: ProviderSpec, key: str | None = None) -> UpstreamRequest:
    """``GET /api/tags``: the models this Ollama serves (for discovery and ``check``)."""
    return UpstreamRequest(
        "GET", spec.base_url.rstrip("/") + "/api/tags", _headers(spec, key, _JSON)
    )


def parse_tags(body: bytes) -> list[str]:
    """Model names from a ``GET /api/tags`` body; ``ValueError`` if it is not one."""
    obj = orjson.loads(body)
    models = obj.get("models") if isinstance(obj, dict) else None
    if not isinstance(models, list):
        raise ValueError("not an /api/tags answer: no models list")
    names = []
    for model in models:
        name = (model.get("name") or model.get("model")) if isinstance(model, dict) else None
        if isinstance(name, str) and name:
            names.append(name)
    return names


def parse_ollama_error(
    status: int, body: bytes, headers: Mapping[str, str], provider: str
) -> ProxyError:
    message: str | None = None
    try:
        obj = orjson.loads(body) if body else None
        error = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(error, dict):  # OpenAI-shaped, from a gateway in front
            error = error.get("message")
        message = str(error) if error else None
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        if text:
            message = f"upstream returned HTTP {status}: {text[:200]}"
    message = message or f"upstream returned HTTP {status}"
    if _CONTEXT.search(message):
        return ContextLengthExceeded(message, provider=provider)
    code = "model_not_found" if status == 404 and "not found" in message else None
    return UpstreamStatusError(
        status, message, code=code, retry_after=parse_retry_after(headers), provider=provider
    )


# -- request translation --------------------------------------------------------------


def to_chat_request(
    chat: dict[str, Any], *, stream: bool, extra: Mapping[str, Any]
) -> dict[str, Any]:
    n = chat.get("n")
    if n is not None and n != 1:
        raise InvalidRequest("provider type 'ollama' supports only n = 1", param="n")
    out: dict[str, Any] = {
        "model": _model(chat),
        "messages": _messages(chat.get("messages")),
        "stream": stream,
    }
    tools = chat.get("tools")
    if tools and chat.get("tool_choice") != "none":
        if not isinstance(tools, list):
            raise InvalidRequest("tools must be a list", param="tools")
        out["tools"] = tools
    defaults = extra.get("options")
    options: dict[str, Any] = dict(defaults) if isinstance(defaults, Mapping) else {}
    for name, option in _OPTIONS:
        if chat.get(name) is not None:
            options[option] = chat[name]
    stop = stop_list(chat.get("stop"))
    if stop:
        options["stop"] = stop
    max_tokens = max_tokens_of(chat)
    if max_tokens is not None:
        options["num_predict"] = max_tokens
    if options:
        out["options"] = options
    fmt = chat.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        out["format"] = "json"
    elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise InvalidRequest("json_schema.schema must be an object", param="response_format")
        out["format"] = schema
    if extra.get("keep_alive") is not None:
        out["keep_alive"] = extra["keep_alive"]
    return out


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model is required", param="model")
    return model


def _messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id → function name, for tool results
    # empty fields are left out, as the ollama SDK does
    for message in messages:
        if not isinstance(message, dict):
            raise InvalidRequest("each message must be an object", param="messages")
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": content_text(content)})
        elif role == "user":
            out.append(_user(content))
        elif role == "assistant":
            item: dict[str, Any] = {"role": "assistant", "content": content_text(content)}
            calls = [_call(c, names) for c in message.get("tool_calls") or ()]
            if calls:
                item["tool_calls"] = calls
            out.append(item)
        elif role == "tool":
            item = {"role": "tool", "content": content_text(content)}
            name = names.get(str(message.get("tool_call_id")))
            if name:
                item["tool_name"] = name
            out.append(item)
        else:
            raise InvalidRequest(f"unsupported message role {role!r}", param="messages")
    return [{k: v for k, v in item.items() if v} for item in out]


def _user(content: Any) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "user", "content": content}
    if not isinstance(content, list):
        raise InvalidRequest("user message content must be a string or a list", param="messages")
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("text") or ""))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            data = parse_data_url(url) if isinstance(url, str) else None
            if data is None:
                raise InvalidRequest(
                    "provider type 'ollama' takes images as base64 data: URLs only",
                    param="messages",
                )
            images.append(data[1])
        else:
            raise InvalidRequest(
                f"content part type {kind!r} is not supported by provider type 'ollama'",
                param="messages",
            )
    out: dict[str, Any] = {"role": "user", "content": "\n".join(texts)}
    if images:
        out["images"] = images
    return out


def _call(call: Any, names: dict[str, str]) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequest("each tool call needs a function name", param="messages")
    if call.get("id"):
        names[str(call["id"])] = function["name"]
    return {
        "function": {
            "name": function["name"],
            "arguments": tool_arguments(function.get("arguments")),
        }
    }


def to_embed_request(body: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    text = body.get("input")
    if not (
        isinstance(text, str)
        or (isinstance(text, list) and text and all(isinstance(t, str) for t in text))
    ):
        raise InvalidRequest(
            "provider type 'ollama' embeds text only: input must be a string or a list of strings",
            param="input",
        )
    out: dict[str, Any] = {"model": _model(body), "input": text}
    if body.get("dimensions") is not None:
        out["dimensions"] = body["dimensions"]
    if extra.get("keep_alive") is not None:
        out["keep_alive"] = extra["keep_alive"]
    return out


def _embeddings(obj: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    vectors = obj.get("embeddings")
    if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
        raise UpstreamError("upstream returned no embeddings list")
    b64 = request.get("encoding_format") == "base64"
    prompt = obj.get("prompt_eval_count")
    tokens = prompt if isinstance(prompt, int) else 0
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": floats_base64(v) if b64 else v}
            for i, v in enumerate(vectors)
        ],
        "model": str(obj.get("model") or request.get("model") or ""),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
