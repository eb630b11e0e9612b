"""Anthropic's own API relayed as it is: the ``messages`` and ``count_tokens`` ops.

A client of the gateway's Messages API reaches an ``anthropic`` provider natively: the
request body goes upstream as the client sent it (the router has set ``model``), the
client's ``anthropic-version`` and ``anthropic-beta`` headers ride on the call
(``Call.headers``) over the provider's defaults, and the answer comes back byte for
byte. So ``cache_control``, ``thinking`` blocks with their signatures, documents,
citations and block types this code has never heard of survive both ways.

Streams are relayed event by event: each upstream SSE event becomes one chunk whose
``obj`` is the parsed event and ``raw`` its exact JSON; the decoder only reads the usage
counters (for accounting and limits), notes ``message_stop`` and turns an ``error``
event into ``StreamBroken`` like the translating decoder does.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import StreamBroken, UpstreamError
from ..messages import Chunk, Op, Result
from ..spec import ProviderSpec
from .anthropic_stream import UsageCounter, openai_usage, stream_error
from .base import PendingError, UpstreamRequest
from .openai_shapes import load_object
from .sse import SSEParser

__all__ = ["NATIVE_OPS", "NativeStreamDecoder", "native_request", "native_result"]

NATIVE_OPS: frozenset[Op] = frozenset(("messages", "count_tokens"))
_PATHS = {"messages": "/v1/messages", "count_tokens": "/v1/messages/count_tokens"}
_JSON = "application/json"


def native_request(
    op: Op, body: dict[str, Any], *, stream: bool, spec: ProviderSpec, key: str | None,
    version: str,
) -> UpstreamRequest:
    headers = {
        "content-type": _JSON,
        "accept": "text/event-stream" if stream else _JSON,
        "anthropic-version": version,
    }
    for name, value in spec.config.headers.items():
        headers[name.lower()] = value
    if key:
        headers["x-api-key"] = key
    url = spec.base_url.rstrip("/") + _PATHS[op]
    return UpstreamRequest("POST", url, headers, orjson.dumps(body))


def native_result(body: bytes) -> Result:
    obj = load_object(body)
    if obj.get("type") == "error":
        error = obj.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        raise UpstreamError(str(message or "upstream returned an error object"))
    return Result(obj, body, openai_usage(obj.get("usage")))


class NativeStreamDecoder(PendingError):
    __slots__ = ("_counter", "_parser", "done", "malformed", "usage")

    def __init__(self) -> None:
        self._parser = SSEParser()
        self._counter = UsageCounter()
        self._error = None
        self.done = False
        self.usage: dict[str, Any] | None = None
        self.malformed = 0

    def feed(self, data: bytes) -> list[Chunk]:
        self._raise_pending()
        return self._relay(self._parser.feed(data))

    def close(self) -> list[Chunk]:
        self._raise_pending()
        out = self._relay(self._parser.flush())
        if not out:
            self._raise_pending()
        return out

    def _relay(self, events: list[tuple[str | None, bytes]]) -> list[Chunk]:
        out: list[Chunk] = []
        loads = orjson.loads
        for _event, data in events:
            try:
                obj = loads(data)
            except orjson.JSONDecodeError:
                self.malformed += 1
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
                self.malformed += 1
                continue
            kind = obj["type"]
            if kind == "message_start":
                message = obj.get("message")
                if isinstance(message, dict):
                    self._count(message.get("usage"))
            elif kind == "message_delta":
                self._count(obj.get("usage"))
            elif kind == "message_stop":
                self.done = True
            elif kind == "error":
                exc: StreamBroken = stream_error(obj)
                if not out:
                    raise exc
                self._error = exc
                break
            out.append(Chunk(obj, data))
        return out

    def _count(self, raw: Any) -> None:
        self._counter.count(raw)
        self.usage = self._counter.usage
