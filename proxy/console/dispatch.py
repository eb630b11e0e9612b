"""The console's only way to read and change configuration: the admin REST API itself,
called in process.

Each call is a clone of the console's request, re-addressed to an ``/admin`` route of the
gateway app, with the signed-in admin as its actor (``CONSOLE_ACTOR``: a request key no
client can set) and a JSON body. The admin handler runs exactly as for a REST client —
same validation, same errors, same change log with who did it, same config sync to other
replicas — so there is one source of truth for admin behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from yarl import URL

from supervisors.errors import ProxyError

from ..api.admin_common import CONSOLE_ACTOR
from ..auth import ClientKey

__all__ = ["GATEWAY_APP", "UNREAD", "Answer", "admin_call"]

#: the gateway application, from the console sub-application
GATEWAY_APP = web.AppKey("gateway_app", web.Application)
#: a copy of a console request made before its form was read (aiohttp clones only
#: unread requests); admin calls are cloned from it
UNREAD = web.RequestKey("console_unread", web.Request)


@dataclass(slots=True)
class Answer:
    status: int
    data: Any

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def error(self) -> str:
        if isinstance(self.data, dict) and isinstance(self.data.get("error"), dict):
            return str(self.data["error"].get("message", "request failed"))
        return "request failed"


async def admin_call(request: web.Request, actor: ClientKey, method: str, path: str, *,
                     body: dict[str, Any] | None = None,
                     query: dict[str, str] | None = None) -> Answer:
    """``method path`` of the admin API on behalf of ``actor``, answered in process."""
    url = URL(path).with_query({k: v for k, v in (query or {}).items() if v != ""})
    target = request.get(UNREAD, request).clone(
        method=method, rel_url=url, headers={"Content-Type": "application/json"})
    gateway_app = request.app[GATEWAY_APP]
    # the admin handler reads its JSON body from here (web.BaseRequest.read)
    target._read_bytes = orjson.dumps(body) if body is not None else b""
    match = await gateway_app.router.resolve(target)
    match.add_app(gateway_app)
    match.freeze()
    target._match_info = match
    target[CONSOLE_ACTOR] = actor
    try:
        response = await match.handler(target)
    except ProxyError as err:
        return Answer(err.status, orjson.loads(err.to_json()))
    except web.HTTPException as exc:
        return Answer(exc.status, {"error": {"message": exc.reason}})
    assert isinstance(response, web.Response)
    raw = response.body
    data = orjson.loads(raw) if isinstance(raw, bytes | bytearray) and raw else None
    return Answer(response.status, data)
