"""``/v1/responses`` routes: create (through the shared pipeline), retrieve, delete, and
list a stored response's input items (paged like OpenAI's lists).

Reads and deletes are confined to the caller's scope (tenant, else key): another
tenant's response is "not found", exactly like one that never existed.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from supervisors.errors import InvalidRequest

from ..appkeys import GATEWAY, LIMITS, RESPONSES
from ..auth import ClientKey
from ..responses.state import scope_of
from .openapi import BOOL, OBJECT, STR, obj, route
from .pipeline import serve
from .responses_ingress import ResponsesIngress

__all__ = ["setup_routes"]

_MAX_ID = 200


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


async def _client(request: web.Request) -> ClientKey:
    client = request.app[GATEWAY].clients.authenticate(request.headers.get("Authorization"))
    await request.app[LIMITS].admit(request, client)
    return client


def _response_id(request: web.Request) -> str:
    return request.match_info["response_id"][:_MAX_ID]


async def create(request: web.Request) -> web.StreamResponse:
    return await serve(request, ResponsesIngress(request.app[RESPONSES]))


async def retrieve(request: web.Request) -> web.Response:
    client = await _client(request)
    found = await request.app[RESPONSES].get(_response_id(request), scope_of(client))
    return _json(found.response)


async def delete(request: web.Request) -> web.Response:
    client = await _client(request)
    response_id = _response_id(request)
    await request.app[RESPONSES].delete(response_id, scope_of(client))
    return _json({"id": response_id, "object": "response", "deleted": True})


def _limit(raw: str | None) -> int:
    if raw is None:
        return 20
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest("Invalid 'limit': expected an integer.", param="limit",
                             code="invalid_type") from None
    if not 1 <= value <= 100:
        raise InvalidRequest("'limit' must be between 1 and 100.", param="limit",
                             code="invalid_value")
    return value


async def input_items(request: web.Request) -> web.Response:
    client = await _client(request)
    query = request.query
    limit = _limit(query.get("limit"))
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("'order' must be 'asc' or 'desc'.", param="order",
                             code="invalid_value")
    given = await request.app[RESPONSES].input_items(_response_id(request), scope_of(client))
    items = given if order == "asc" else given[::-1]
    after = query.get("after")
    if after is not None:
        ids = [i.get("id") for i in items]
        if after not in ids:
            raise InvalidRequest(f"No input item with id '{after[:80]}' in this response.",
                                 param="after", code="invalid_value")
        items = items[ids.index(after) + 1:]
    page = items[:limit]
    return _json({
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    })


_NULLABLE_STR = {"type": ["string", "null"]}
_REQUEST = obj(("model",), model={"type": "string", "minLength": 1, "maxLength": 256},
               input={"type": ["string", "array"]}, instructions=_NULLABLE_STR,
               previous_response_id=_NULLABLE_STR, stream={"type": ["boolean", "null"]},
               store={"type": ["boolean", "null"]},
               max_output_tokens={"type": ["integer", "null"], "minimum": 1})
_RESPONSE = obj(("id", "object"), id=STR, object={"const": "response"}, status=STR,
                output={"type": "array", "items": OBJECT})
_ITEMS_QUERY = {"limit": {"type": "integer", "minimum": 1, "maximum": 100},
                "order": {"enum": ["asc", "desc"]}, "after": STR}
_ITEMS = obj(("object", "data", "has_more"), object={"const": "list"},
             data={"type": "array", "items": OBJECT}, first_id=_NULLABLE_STR,
             last_id=_NULLABLE_STR, has_more=BOOL)


def setup_routes(app: web.Application) -> None:
    route(app, "POST", "/v1/responses", create, "Create a response (OpenAI Responses API)",
          body=_REQUEST, response=_RESPONSE, stream=True)
    route(app, "GET", "/v1/responses/{response_id}", retrieve, "A stored response",
          response=_RESPONSE)
    route(app, "DELETE", "/v1/responses/{response_id}", delete, "Delete a stored response",
          response=obj(("id", "deleted"), id=STR, deleted={"const": True}))
    route(app, "GET", "/v1/responses/{response_id}/input_items", input_items,
          "A stored response's input items", query=_ITEMS_QUERY, response=_ITEMS)
