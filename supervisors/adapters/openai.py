"""``openai`` and ``custom`` providers: the OpenAI wire format, relayed with the least work.

Requests pass through unchanged (unknown fields included), except that streams always ask
the upstream for usage (``stream_options.include_usage``) so the gateway can account
tokens; the usage chunk is relayed only when the client asked for it.

The upstream key goes in ``Authorization: Bearer``, or, when the provider config sets
``auth_header`` (Azure-style gateways: ``"api-key"``), in that header. Keep such keys in
the encrypted key pool (``/admin/keys``), never in ``config.headers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import (
    ContextLengthExceeded,
    ProxyError,
    StreamBroken,
    UpstreamError,
    UpstreamStatusError,
)
from ..messages import Chunk, Op, Result
from ..spec import ProviderSpec
from .base import UpstreamRequest, parse_retry_after
from .openai_answers import check_answer, check_chunk
from .sse import SSEParser

__all__ = ["OpenAIAdapter", "OpenAIStreamDecoder", "parse_openai_error"]

_PATHS: dict[str, str] = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
}
_JSON = "application/json"


class OpenAIAdapter:
    type = "openai"
    ops: frozenset[Op] = frozenset(("chat", "completions", "embeddings"))

    def build_request(
        self, op: Op, body: dict[str, Any], *, stream: bool, spec: ProviderSpec, key: str | None
    ) -> UpstreamRequest:
        headers = {"content-type": _JSON, "accept": "text/event-stream" if stream else _JSON}
        if spec.config.headers:
            headers.update(spec.config.headers)
        if key:
            # Azure-style gateways take the key in their own header (config auth_header)
            auth_header = spec.config.extra.get("auth_header")
            if auth_header:
                headers[str(auth_header).lower()] = key
            else:
                headers["authorization"] = "Bearer " + key
        if stream and spec.config.extra.get("stream_usage", True):
            options = body.get("stream_options")
            if not (isinstance(options, dict) and options.get("include_usage")):
                body = dict(body)
                body["stream_options"] = {**(options or {}), "include_usage": True}
        return UpstreamRequest("POST", spec.base_url + _PATHS[op], headers, orjson.dumps(body))

    def parse_response(self, op: Op, body: bytes, request: dict[str, Any]) -> Result:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError("upstream returned invalid JSON") from exc
        if not isinstance(obj, dict):
            raise UpstreamError("upstream returned a non-object JSON body")
        check_answer(op, obj)
        return Result(obj, body)

    def parse_error(
        self, status: int, body: bytes, headers: Mapping[str, str], provider: str
    ) -> ProxyError:
        return parse_openai_error(status, body, headers, provider)

    def stream_decoder(self, op: Op, request: dict[str, Any]) -> OpenAIStreamDecoder:
        options = request.get("stream_options")
        wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return OpenAIStreamDecoder(wants_usage, op)


def parse_openai_error(
    status: int, body: bytes, headers: Mapping[str, str], provider: str
) -> ProxyError:
    message, type_, code, param = f"upstream returned HTTP {status}", None, None, None
    try:
        obj = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        obj = None
    error = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or message)
        type_ = error.get("type") if isinstance(error.get("type"), str) else None
        code = error.get("code") if isinstance(error.get("code"), str) else None
        param = error.get("param") if isinstance(error.get("param"), str) else None
    elif isinstance(error, str):
        message = error
    if code == "context_length_exceeded" or (status == 400 and "maximum context length" in message):
        return ContextLengthExceeded(message, param=param, provider=provider)
    return UpstreamStatusError(
        status,
        message,
        type_=type_,
        code=code,
        param=param,
        retry_after=parse_retry_after(headers),
        provider=provider,
    )


class OpenAIStreamDecoder:
    __slots__ = ("_op", "_parser", "_wants_usage", "done", "malformed", "usage")

    def __init__(self, wants_usage: bool, op: Op = "chat") -> None:
        self._parser = SSEParser()
        self._wants_usage = wants_usage
        self._op = op
        self.done = False
        self.usage: dict[str, Any] | None = None
        self.malformed = 0

    def feed(self, data: bytes) -> list[Chunk]:
        return self._translate(self._parser.feed(data))

    def close(self) -> list[Chunk]:
        return self._translate(self._parser.flush())

    def _translate(self, events: list[tuple[str | None, bytes]]) -> list[Chunk]:
        out: list[Chunk] = []
        loads, op = orjson.loads, self._op
        for _event, data in events:
            if data == b"[DONE]":
                self.done = True
                continue
            try:
                obj = loads(data)
            except orjson.JSONDecodeError:
                self.malformed += 1
                continue
            if obj.__class__ is not dict:
                self.malformed += 1
                continue
            if "error" in obj and "choices" not in obj:
                error = obj["error"]
                message = error.get("message") if isinstance(error, dict) else str(error)
                raise StreamBroken(f"upstream stream error: {message}")
            usage = check_chunk(obj, op)
            if usage:
                self.usage = usage
                if not obj.get("choices"):
                    if self._wants_usage:
                        out.append(Chunk(obj, data))
                    continue
            out.append(Chunk(obj, data))
        return out
