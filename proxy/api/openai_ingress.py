"""The OpenAI front ends: chat completions, legacy completions and embeddings.

Their requests are already in the gateway's internal terms (OpenAI's), so a hop's call is
the client's body with the hop's model and defaults; answers and chunks are relayed as
the upstream adapters produced them, from their original bytes where possible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from supervisors.errors import ProxyError
from supervisors.messages import Chunk, Op, Result

from ..auth import ClientKey, ClientKeyIndex
from ..router import HopCall, Trace, hop_body
from ..routing import Hop, Route
from .ingress import Prepared
from .middleware import error_response
from .sse import DONE, encode_batch, encode_error
from .validate import validate_chat, validate_completions, validate_embeddings

__all__ = ["CHAT", "COMPLETIONS", "EMBEDDINGS", "OpenAIIngress"]


class _OpenAIStream:
    """OpenAI SSE framing: ``data: <chunk>`` per chunk, ``data: [DONE]``, in-band errors.
    Stateless, so one instance serves every stream."""

    __slots__ = ()

    def batch(self, chunks: list[Chunk], op: Op) -> bytes:
        return encode_batch(chunks)

    def done(self, trace: Trace) -> bytes:
        return DONE

    def error(self, err: ProxyError) -> bytes:
        return encode_error(err)


_STREAM = _OpenAIStream()


def _max_output(body: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class OpenAIIngress:
    __slots__ = ("_validate", "endpoint", "op")

    def __init__(self, op: Op, endpoint: str, validate: Callable[[dict[str, Any]], None]) -> None:
        self.op: Op = op
        self.endpoint = endpoint
        self._validate = validate

    def authenticate(self, clients: ClientKeyIndex, request: web.Request) -> ClientKey:
        return clients.authenticate(request.headers.get("Authorization"))

    def error_response(self, err: ProxyError, request_id: str) -> web.Response:
        return error_response(err, request_id)

    def prepare(self, body: dict[str, Any]) -> Prepared:
        self._validate(body)
        fallbacks = body.pop("fallbacks", None)
        stream = self.op != "embeddings" and body.get("stream") is True
        return Prepared(body, body["model"], stream, fallbacks, _max_output(body))

    def plan(self, prepared: Prepared, hop: Hop, prefill: str | None = None) -> HopCall:
        body = hop_body(prepared.body, hop)
        if prefill and self.op == "chat":
            body["messages"] = [*body["messages"], {"role": "assistant", "content": prefill}]
            return HopCall(self.op, body, prefilled=True)
        return HopCall(self.op, body)

    def whole(self, prepared: Prepared, result: Result, op: Op) -> bytes:
        return result.raw if result.raw is not None else orjson.dumps(result.obj)

    def encoder(self, prepared: Prepared) -> _OpenAIStream:
        return _STREAM

    def local(self, prepared: Prepared, route: Route) -> bytes | None:
        return None


CHAT = OpenAIIngress("chat", "/v1/chat/completions", validate_chat)
COMPLETIONS = OpenAIIngress("completions", "/v1/completions", validate_completions)
EMBEDDINGS = OpenAIIngress("embeddings", "/v1/embeddings", validate_embeddings)
