"""The OpenAI-compatible routes: ``/v1/chat/completions``, ``/v1/completions``,
``/v1/embeddings``, ``/v1/models``.

Each completion-style route is the shared pipeline (``proxy.api.pipeline``) with its
ingress codec (``proxy.api.openai_ingress``).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from supervisors.errors import NotFound

from ..appkeys import CLIENT, GATEWAY, INGRESS
from ..auth import ClientKey
from .messages_ingress import MessagesIngress, anthropic_model, list_models_anthropic
from .openai_ingress import CHAT, COMPLETIONS, EMBEDDINGS
from .openapi import INT, OBJECT, STR, list_of, obj, route
from .pipeline import serve
from .validate import chat_schema, completions_schema, embeddings_schema

__all__ = ["setup_routes"]


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await serve(request, CHAT)


async def completions(request: web.Request) -> web.StreamResponse:
    return await serve(request, COMPLETIONS)


async def embeddings(request: web.Request) -> web.StreamResponse:
    return await serve(request, EMBEDDINGS)


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "openai-proxy"}


def _anthropic_client(request: web.Request) -> ClientKey:
    """An Anthropic client (Claude Code, the SDK): its key and its error shape."""
    ingress = MessagesIngress(None)
    request[INGRESS] = ingress
    request[CLIENT] = client = ingress.authenticate(request.app[GATEWAY].clients, request)
    return client


async def list_models(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    if "anthropic-version" in request.headers:
        return await list_models_anthropic(request, _anthropic_client(request))
    request[CLIENT] = client = gateway.clients.authenticate(request.headers.get("Authorization"))
    data = [_model_object(n) for n in gateway.routes.model_ids(client.allowed_models)]
    return web.Response(body=orjson.dumps({"object": "list", "data": data}),
                        content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    anthropic = "anthropic-version" in request.headers
    client = (_anthropic_client(request) if anthropic
              else gateway.clients.authenticate(request.headers.get("Authorization")))
    request[CLIENT] = client
    name = request.match_info["model"]
    if name not in gateway.routes.model_ids(client.allowed_models):
        raise NotFound(f"The model '{name}' does not exist", param="model",
                       code="model_not_found")
    found = anthropic_model(name) if anthropic else _model_object(name)
    return web.Response(body=orjson.dumps(found), content_type="application/json")


_MODEL = obj(("id", "object"), id=STR, object={"const": "model"}, created=INT, owned_by=STR)


def _answer(kind: str) -> dict[str, Any]:
    return obj(("id", "object", "choices"), id=STR, object={"const": kind},
               choices={"type": "array", "items": OBJECT}, usage=OBJECT)


def setup_routes(app: web.Application) -> None:
    route(app, "POST", "/v1/chat/completions", chat_completions, "Chat completion",
          body=chat_schema(), response=_answer("chat.completion"), stream=True)
    route(app, "POST", "/v1/completions", completions, "Text completion (legacy)",
          body=completions_schema(), response=_answer("text_completion"), stream=True)
    route(app, "POST", "/v1/embeddings", embeddings, "Embeddings", body=embeddings_schema(),
          response=list_of(obj(("object", "index"), object={"const": "embedding"}, index=INT)))
    route(app, "GET", "/v1/models", list_models, "Models this key may use",
          response=list_of(_MODEL))
    route(app, "GET", "/v1/models/{model:.+}", get_model, "One model", response=_MODEL)
