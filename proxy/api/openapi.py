"""The OpenAPI 3.1 document (``GET /openapi.json``), built from the routes themselves.

A route is added with :func:`route`, which registers the handler with aiohttp and its
description here in the same call, next to the handler::

    route(app, "POST", "/admin/providers", create_provider, "Create a provider",
          body=body_schema(_SCHEMA, ("name", "provider_type")), response=PROVIDER,
          status=201)

``body`` and ``query`` are the same validator tables that check the request
(``admin_fields``: every validator carries its JSON Schema), or a JSON Schema derived
from the validator's own table (``/v1``: ``validate.chat_schema`` ...); a query
parameter parsed by hand is described by a plain JSON Schema in ``query``. ``response`` is
the JSON Schema of the success answer. Errors are documented once, as the ``default``
response (the OpenAI error shape every route answers with). Routes added with plain
``app.router.add_*`` are simply not in the document.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

import orjson
from aiohttp import web

from .admin_fields import object_schema, schema_of

__all__ = [
    "BOOL",
    "DELETED",
    "ERROR",
    "INT",
    "OBJECT",
    "STR",
    "TIME",
    "Auth",
    "Operation",
    "body_schema",
    "document",
    "list_of",
    "obj",
    "route",
    "setup_routes",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Auth = Literal["admin", "client", "none"]

#: the error body every route answers with (``ProxyError.to_json``)
ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": ["string", "null"]},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "integer", "null"]},
            },
        },
    },
}


INT: dict[str, Any] = {"type": "integer"}
STR: dict[str, Any] = {"type": "string"}
BOOL: dict[str, Any] = {"type": "boolean"}
OBJECT: dict[str, Any] = {"type": "object"}
#: ISO-8601 UTC timestamps, null when unset
TIME: dict[str, Any] = {"type": ["string", "null"]}


def obj(required: Collection[str] = (), **properties: Any) -> dict[str, Any]:
    """An object schema: ``obj(("id",), id={"type": "integer"}, ...)``."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


#: one server-sent event of a streamed answer (its ``data`` is a JSON chunk or ``[DONE]``)
_SSE_EVENT: dict[str, Any] = {"type": "object", "required": ["data"],
                              "properties": {"data": {"type": "string"}}}

#: the answer of every DELETE
DELETED: dict[str, Any] = obj(("id", "deleted"), id=INT, deleted={"const": True})


def list_of(item: dict[str, Any]) -> dict[str, Any]:
    """The ``{"object": "list", "data": [...]}`` envelope of the list routes."""
    return obj(("object", "data"), object={"const": "list"},
               data={"type": "array", "items": item})


def body_schema(table: Mapping[str, object], required: Collection[str] = (),
           *, closed: bool = True) -> dict[str, Any]:
    """A request body schema from a validator table (``admin_fields``)."""
    return object_schema(table, required, closed=closed)


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    body: dict[str, Any] | None
    query: Mapping[str, object]
    response: dict[str, Any] | None
    status: int
    auth: Auth
    stream: bool
    content_type: str


OPERATIONS = web.AppKey("openapi_operations", list[Operation])


def route(
    app: web.Application,
    method: str,
    path: str,
    handler: Handler,
    summary: str,
    *,
    body: dict[str, Any] | None = None,
    query: Mapping[str, object] | None = None,
    response: dict[str, Any] | None = None,
    status: int = 200,
    auth: Auth | None = None,
    stream: bool = False,
    content_type: str = "application/json",
) -> None:
    """Add ``handler`` for ``method path`` and describe it in ``/openapi.json``.

    ``auth`` defaults to ``admin`` under ``/admin`` and ``client`` elsewhere; ``stream``
    says the route may answer ``text/event-stream`` (``"stream": true``).
    """
    app.router.add_route(method, path, handler)
    if OPERATIONS not in app:
        app[OPERATIONS] = []
    if auth is None:
        auth = "admin" if path.startswith("/admin") else "client"
    app[OPERATIONS].append(Operation(
        method.upper(), path, summary, body, dict(query or {}), response, status, auth,
        stream, content_type,
    ))


def _openapi_path(path: str) -> tuple[str, list[dict[str, Any]]]:
    """aiohttp's ``/x/{id}`` and ``/x/{model:.+}`` → OpenAPI's ``/x/{id}`` + parameters."""
    parameters: list[dict[str, Any]] = []
    parts = []
    for segment in path.split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            name = segment[1:-1].split(":", 1)[0]
            schema: dict[str, Any] = (
                {"type": "integer", "minimum": 1} if name == "id" else {"type": "string"}
            )
            parameters.append({"name": name, "in": "path", "required": True,
                               "schema": schema})
            parts.append("{" + name + "}")
        else:
            parts.append(segment)
    return "/".join(parts), parameters


def _operation(op: Operation) -> dict[str, Any]:
    path, parameters = _openapi_path(op.path)
    parameters += [{"name": name, "in": "query", "required": False,
                    "schema": parser if isinstance(parser, dict) else schema_of(parser)}
                   for name, parser in op.query.items()]
    success: dict[str, Any] = {"description": op.summary}
    if op.response is not None:
        content = {op.content_type: {"schema": op.response}}
        if op.stream:
            content["text/event-stream"] = {"schema": _SSE_EVENT}
        success["content"] = content
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{op.method.lower()}{path}".replace("/", "_").replace("{", "")
        .replace("}", "").replace("-", "_").replace(".", "_"),
        "tags": [path.split("/")[1] or "root"],
        "responses": {
            str(op.status): success,
            "default": {"description": "Error (OpenAI error shape)",
                        "content": {"application/json": {"schema": ERROR}}},
        },
    }
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {"required": True,
                              "content": {"application/json": {"schema": op.body}}}
    if op.auth != "none":
        out["security"] = [{"bearer": []}]
    return out


def _version() -> str:
    try:
        return version("openai-proxy")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def document(operations: list[Operation]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        path, _ = _openapi_path(op.path)
        paths.setdefault(path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "openai-proxy",
            "version": _version(),
            "description": "OpenAI-compatible gateway (/v1) and its admin API (/admin). "
                           "Authenticate with 'Authorization: Bearer <key>': a client key "
                           "for /v1, ADMIN_API_KEY or an admin client key for /admin.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR},
        },
    }


def setup_routes(app: web.Application) -> None:
    """``GET /openapi.json``: call after every other ``setup_routes`` (it reads them once,
    on the first request)."""
    cache: list[bytes] = []

    async def openapi(request: web.Request) -> web.Response:
        if not cache:
            cache.append(orjson.dumps(document(request.app.get(OPERATIONS, []))))
        return web.Response(body=cache[0], content_type="application/json")

    route(app, "GET", "/openapi.json", openapi, "This OpenAPI document", auth="none",
          response={"type": "object", "required": ["openapi", "paths"]})
