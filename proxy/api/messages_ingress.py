"""The Anthropic Messages front end: ``POST /v1/messages``, ``POST
/v1/messages/count_tokens``, and Anthropic's shape of ``GET /v1/models``.

A codec on the shared pipeline (``proxy.api.pipeline``). Per hop: an ``anthropic``
provider gets the client's body as it is (``model`` set; ``anthropic-version`` and
``anthropic-beta`` forwarded; op ``messages``), every other provider type a translated
chat request (``proxy.messages_api.request``), whose answer and chunks are turned back
into a message and its events (``answer``, ``events``). Errors are Anthropic-shaped.

A codec object lives for one request: it carries the client's forwarded headers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from supervisors.errors import AuthenticationFailed, ProxyError
from supervisors.messages import Op, Result

from ..appkeys import GATEWAY
from ..auth import ClientKey, ClientKeyIndex
from ..messages_api.answer import to_message
from ..messages_api.errors import anthropic_error
from ..messages_api.events import MessagesStream
from ..messages_api.request import to_chat
from ..messages_api.tokens import estimate_tokens, warm_up
from ..messages_api.validate import validate_count_tokens, validate_messages
from ..router import HopCall
from ..routing import Hop, Route
from .ingress import Prepared
from .middleware import error_response
from .openapi import INT, OBJECT, STR, obj, route
from .pipeline import serve

__all__ = ["MessagesIngress", "anthropic_model", "list_models_anthropic", "setup_routes"]

#: client headers an ``anthropic`` hop gets as they were sent
FORWARDED = ("anthropic-version", "anthropic-beta")
#: Messages fields a mapping's ``config`` may default on a native hop
_NATIVE_DEFAULTS = ("temperature", "top_p", "top_k")
_IGNORED = "x-proxy-ignored-tools"


def _forwarded(request: web.Request) -> dict[str, str] | None:
    headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
    return headers or None


class MessagesIngress:
    __slots__ = ("_forward", "endpoint", "op")

    def __init__(self, forward: dict[str, str] | None, *, count: bool = False) -> None:
        self._forward = forward
        self.op: Op = "count_tokens" if count else "messages"
        self.endpoint = "/v1/messages/count_tokens" if count else "/v1/messages"

    def authenticate(self, clients: ClientKeyIndex, request: web.Request) -> ClientKey:
        api_key = request.headers.get("x-api-key")
        if api_key is not None:
            return clients.authenticate_token(api_key.strip())
        if request.headers.get("Authorization") is None:
            raise AuthenticationFailed("x-api-key header is required",
                                       code="missing_api_key")
        return clients.authenticate(request.headers.get("Authorization"))

    def error_response(self, err: ProxyError, request_id: str) -> web.Response:
        response = error_response(err, request_id)  # headers: Retry-After, x-proxy-*, ids
        status, body = anthropic_error(err, request_id)
        response.set_status(status)
        response.body = body
        return response

    def prepare(self, body: dict[str, Any]) -> Prepared:
        if self.op == "count_tokens":
            validate_count_tokens(body)
        else:
            validate_messages(body)
        fallbacks = body.pop("fallbacks", None)
        stream = self.op == "messages" and body.get("stream") is True
        max_tokens = body.get("max_tokens")
        return Prepared(body, body["model"], stream, fallbacks,
                        max_tokens if isinstance(max_tokens, int) else None)

    def plan(self, prepared: Prepared, hop: Hop, prefill: str | None = None) -> HopCall:
        if hop.provider_type == "anthropic":
            prepared.headers.pop(_IGNORED, None)
            body = dict(prepared.body)
            body["model"] = hop.model
            for name in _NATIVE_DEFAULTS:
                if name not in body and name in hop.defaults:
                    body[name] = hop.defaults[name]
            if prefill:
                body["messages"] = [*body["messages"],
                                    {"role": "assistant", "content": prefill}]
            return HopCall(self.op, body, prefilled=bool(prefill), headers=self._forward)
        if self.op == "count_tokens":  # only Anthropic counts; others are estimated
            return HopCall("count_tokens", prepared.body)
        chat, ignored = to_chat(prepared.body, hop, stream=prepared.stream)
        if ignored:
            prepared.headers[_IGNORED] = ", ".join(ignored)
        else:
            prepared.headers.pop(_IGNORED, None)
        if prefill:
            chat["messages"] = [*chat["messages"], {"role": "assistant", "content": prefill}]
        return HopCall("chat", chat, prefilled=bool(prefill))

    def whole(self, prepared: Prepared, result: Result, op: Op) -> bytes:
        if op != "chat":
            return result.raw if result.raw is not None else orjson.dumps(result.obj)
        return orjson.dumps(to_message(result.obj, prepared.model,
                                       prepared.body.get("stop_sequences")))

    def encoder(self, prepared: Prepared) -> MessagesStream:
        return MessagesStream(prepared.model, prepared.body.get("stop_sequences"))

    def local(self, prepared: Prepared, route: Route) -> bytes | None:
        if self.op != "count_tokens" or any(h.provider_type == "anthropic"
                                            for h in route.hops):
            return None
        return orjson.dumps({"input_tokens": estimate_tokens(prepared.body)})


async def messages(request: web.Request) -> web.StreamResponse:
    return await serve(request, MessagesIngress(_forwarded(request)))


async def count_tokens(request: web.Request) -> web.StreamResponse:
    await warm_up()
    return await serve(request, MessagesIngress(_forwarded(request), count=True))


def _created_at() -> str:
    return datetime(2025, 1, 1, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def anthropic_model(name: str) -> dict[str, Any]:
    return {"type": "model", "id": name, "display_name": name, "created_at": _created_at()}


async def list_models_anthropic(request: web.Request, client: ClientKey) -> web.Response:
    """``GET /v1/models`` asked with an ``anthropic-version`` header: Anthropic's shape."""
    names = request.app[GATEWAY].routes.model_ids(client.allowed_models)
    data = [anthropic_model(n) for n in names]
    body = {"data": data, "has_more": False, "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


_MESSAGES = {"type": "array", "minItems": 1, "items": obj(
    ("role", "content"), role={"enum": ["user", "assistant"]},
    content={"anyOf": [STR, {"type": "array", "items": obj(("type",), type=STR)}]})}
_REQUEST = obj(("model", "messages"), model={"type": "string", "minLength": 1, "maxLength": 256},
               messages=_MESSAGES, max_tokens={"type": "integer", "minimum": 1},
               stream={"type": "boolean"})


def setup_routes(app: web.Application) -> None:
    route(app, "POST", "/v1/messages", messages, "Anthropic Messages API",
          body={**_REQUEST, "required": ["model", "messages", "max_tokens"]},
          response=obj(("id", "type", "content"), id=STR, type={"const": "message"},
                       content={"type": "array", "items": OBJECT}), stream=True)
    route(app, "POST", "/v1/messages/count_tokens", count_tokens,
          "Anthropic token count (estimated)", body=_REQUEST,
          response=obj(("input_tokens",), input_tokens=INT))

