"""``anthropic`` provider: the Messages API (``POST {base_url}/v1/messages``), both ways.

Request translation (OpenAI chat → Messages), decisions worth knowing:

* ``system`` and ``developer`` messages, wherever they appear, become the top-level
  ``system`` string (several are joined with a blank line).
* Consecutive messages of the same role are merged (their content blocks concatenated);
  ``tool`` messages become ``tool_result`` blocks of a user turn. Assistant messages with
  no text and no tool calls are dropped.
* The Messages API wants the first turn to be the user's: when the conversation starts
  with an assistant turn (or has only system messages), a one-character user turn ``"."``
  is put first.
* A trailing assistant message is a prefill that Anthropic continues. The API rejects a
  final assistant text ending in whitespace, so that whitespace is cut from the request and
  the same characters are cut from the start of the answer, which then reads as the
  continuation of the original prefill.
* ``max_tokens`` is required: ``max_completion_tokens``, else ``max_tokens``, else
  ``config.extra["default_max_tokens"]`` (4096).
* ``temperature`` is clamped to Anthropic's range [0, 1]; ``temperature``, ``top_p`` and
  ``top_k`` are sent as given (newer models reject some combinations and the API says so),
  except with an ``anthropic_version`` of 2026-10-21 or later, which has no sampling
  parameters: there they are dropped.
* ``n`` > 1 is a 400. Dropped without a word: ``seed``, ``logprobs``, ``top_logprobs``,
  ``presence_penalty``, ``frequency_penalty``, ``logit_bias``, ``service_tier``, ``store``,
  ``metadata``, ``reasoning_effort``, ``stream_options`` and ``response_format`` of type
  ``text``/``json_object``; ``json_schema`` becomes ``output_config.format``.

The ``messages`` and ``count_tokens`` ops are Anthropic's own API relayed as it is
(``adapters.anthropic_native``).

Response translation keeps Anthropic's message id and model, joins text blocks, turns
``tool_use`` blocks into ``tool_calls`` and ignores thinking and server-tool blocks.
``created`` is 0 (Anthropic reports no time and adapters read no clock).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import (
    ContextLengthExceeded,
    ProxyError,
    UnsupportedOperation,
    UpstreamError,
    UpstreamStatusError,
)
from ..messages import Op, Result
from ..spec import ProviderSpec
from .anthropic_native import NATIVE_OPS, NativeStreamDecoder, native_request, native_result
from .anthropic_request import prefill_whitespace, to_messages_request
from .anthropic_stream import AnthropicStreamDecoder, finish_reason, openai_usage
from .base import StreamDecoder, UpstreamRequest, parse_retry_after
from .completions import completion_to_chat
from .openai_shapes import (
    CompletionsStream,
    chat_completion,
    load_object,
    to_op_result,
    wants_usage,
)

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_VERSION",
    "AnthropicAdapter",
    "parse_anthropic_error",
]

DEFAULT_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_CONTEXT = re.compile(
    r"prompt is too long|context window|context limit|max_tokens.*exceed", re.IGNORECASE
)
_JSON = "application/json"


class AnthropicAdapter:
    type = "anthropic"
    ops: frozenset[Op] = frozenset(("chat", "completions", *NATIVE_OPS))

    def build_request(
        self, op: Op, body: dict[str, Any], *, stream: bool, spec: ProviderSpec, key: str | None
    ) -> UpstreamRequest:
        _check_op(op)
        extra = spec.config.extra
        version = str(extra.get("anthropic_version") or DEFAULT_VERSION)
        if op in NATIVE_OPS:
            return native_request(op, body, stream=stream, spec=spec, key=key, version=version)
        default_max = extra.get("default_max_tokens")
        if isinstance(default_max, bool) or not isinstance(default_max, int) or default_max < 1:
            default_max = DEFAULT_MAX_TOKENS
        chat = completion_to_chat(body) if op == "completions" else body
        payload = to_messages_request(
            chat, stream=stream, version=version, default_max_tokens=default_max
        )
        headers = {
            "content-type": _JSON,
            "accept": "text/event-stream" if stream else _JSON,
            "anthropic-version": version,
        }
        for name, value in spec.config.headers.items():
            headers[name.lower()] = value
        if key:
            headers["x-api-key"] = key
        url = spec.base_url.rstrip("/") + "/v1/messages"
        return UpstreamRequest("POST", url, headers, orjson.dumps(payload))

    def parse_response(self, op: Op, body: bytes, request: dict[str, Any]) -> Result:
        _check_op(op)
        if op in NATIVE_OPS:
            return native_result(body)
        obj = load_object(body)
        if obj.get("type") == "error":
            raise UpstreamError(_error_fields(obj)[0] or "upstream returned an error object")
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in obj.get("content") or ():
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                texts.append(str(block.get("text") or ""))
            elif block.get("type") == "tool_use":
                calls.append(_tool_call(block))
        text = "".join(texts)
        skip = prefill_whitespace(request) if op == "chat" else ""
        if skip and text.startswith(skip):
            text = text[len(skip) :]
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text if text or not calls else None,
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = calls
        model = obj.get("model") or request.get("model") or ""
        finish = finish_reason(obj.get("stop_reason"), bool(calls))
        out = chat_completion(
            str(obj.get("id") or ""), 0, model, message, finish, openai_usage(obj.get("usage"))
        )
        return to_op_result(op, out)

    def parse_error(
        self, status: int, body: bytes, headers: Mapping[str, str], provider: str
    ) -> ProxyError:
        return parse_anthropic_error(status, body, headers, provider)

    def stream_decoder(self, op: Op, request: dict[str, Any]) -> StreamDecoder:
        _check_op(op)
        if op in NATIVE_OPS:
            return NativeStreamDecoder()
        skip = prefill_whitespace(request) if op == "chat" else ""
        decoder = AnthropicStreamDecoder(
            wants_usage(request), str(request.get("model") or ""), skip
        )
        return CompletionsStream(decoder) if op == "completions" else decoder


def _check_op(op: Op) -> None:
    if op == "embeddings":
        raise UnsupportedOperation(
            "provider type 'anthropic' has no embeddings endpoint", param="model"
        )


def _tool_call(block: dict[str, Any]) -> dict[str, Any]:
    arguments = orjson.dumps(block.get("input") or {}).decode()
    name = str(block.get("name") or "")
    return {
        "id": str(block.get("id") or ""),
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


# -- errors ---------------------------------------------------------------------------


def _error_fields(obj: Any) -> tuple[str | None, str | None]:
    """``(message, type)`` of ``{"type": "error", "error": {"type", "message"}}``."""
    error = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(error, dict):
        type_ = error.get("type")
        message = error.get("message")
        return (str(message) if message else None, type_ if isinstance(type_, str) else None)
    if isinstance(error, str):
        return error, None
    return None, None


def parse_anthropic_error(
    status: int, body: bytes, headers: Mapping[str, str], provider: str
) -> ProxyError:
    message: str | None = None
    type_: str | None = None
    try:
        obj = orjson.loads(body) if body else None
        message, type_ = _error_fields(obj)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        if text:
            message = f"upstream returned HTTP {status}: {text[:200]}"
    message = message or f"upstream returned HTTP {status}"
    if status == 400 and _CONTEXT.search(message):
        return ContextLengthExceeded(message, provider=provider)
    return UpstreamStatusError(
        status, message, type_=type_, retry_after=parse_retry_after(headers), provider=provider
    )
