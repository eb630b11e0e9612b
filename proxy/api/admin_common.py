"""Plumbing shared by the admin handlers: authentication, store errors, ids, JSON, reload.

``admin_route`` wraps every admin handler: it authenticates the Bearer key (401 when
missing or wrong), refuses non-admin keys (403), and maps the store's own errors to
HTTP: ``Conflict`` → 409, ``MissingReference`` → 400, ``StoreUnavailable`` → 503.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from aiohttp import web

from supervisors.errors import Conflict, InvalidRequest, NotFound, PermissionDenied, Unavailable

from ..appkeys import GATEWAY
from ..auth import ClientKey
from ..store.base import Conflict as StoreConflict
from ..store.base import MissingReference, StoreError, StoreUnavailable
from .admin_fields import MAX_ID

Row = TypeVar("Row")

__all__ = [
    "CONSOLE_ACTOR",
    "AdminHandler",
    "admin_route",
    "apply_change",
    "deleted",
    "iso",
    "json_response",
    "log_change",
    "not_found",
    "path_id",
]

log = logging.getLogger("proxy.admin")

AdminHandler = Callable[[web.Request, ClientKey], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ID = re.compile(r"[0-9]{1,19}")

#: the signed-in admin when the web console calls an admin handler in process
#: (``proxy.console.dispatch``); a request key, so no HTTP client can set it
CONSOLE_ACTOR = web.RequestKey("console_actor", ClientKey)


def admin_route(handler: AdminHandler) -> Handler:
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        gateway = request.app[GATEWAY]
        client = request.get(CONSOLE_ACTOR) or gateway.clients.authenticate(
            request.headers.get("Authorization"))
        if not client.is_admin:
            raise PermissionDenied(
                "This API key is not allowed to use the admin API.", code="admin_required"
            )
        try:
            return await handler(request, client)
        except StoreConflict as exc:
            raise Conflict(str(exc), param=exc.field) from None
        except MissingReference as exc:
            raise InvalidRequest(str(exc), param=exc.field, code="invalid_reference") from None
        except StoreUnavailable as exc:
            log.warning("admin request failed: database unavailable",
                        extra={"path": request.path, "error": type(exc).__name__})
            raise Unavailable(
                "The database is unavailable; try again shortly.",
                code="database_unavailable", retry_after=1.0,
            ) from None

    return wrapped


def path_id(request: web.Request, what: str) -> int:
    """The ``{id}`` of the URL. Anything but a positive 64-bit integer is a 404: no row
    can have that id, exactly as for an id that does not exist."""
    raw = request.match_info["id"]
    if _ID.fullmatch(raw) and 0 < int(raw) <= MAX_ID:
        return int(raw)
    raise not_found(what, raw[:40])


def not_found(what: str, ident: object) -> NotFound:
    code = f"{what.replace(' ', '_')}_not_found"
    return NotFound(f"No {what} with id '{ident}'.", param="id", code=code)


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with a ``Z``: ``2024-05-01T12:00:00.123456Z``."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


def deleted(row_id: int, **extra: Any) -> web.Response:
    return json_response({"id": row_id, "deleted": True, **extra})


async def apply_change(request: web.Request) -> None:
    """Apply a saved change to this replica now (others follow via NOTIFY / polling).

    The change is already committed; if the reload fails the config sync retries it,
    so the request still succeeds.
    """
    gateway = request.app[GATEWAY]
    try:
        await gateway.reload()
    except (StoreError, OSError, TimeoutError) as exc:
        log.warning("admin change saved; applying it here failed and will be retried",
                    extra={"error": type(exc).__name__})
        gateway.notify()


async def fetch_row(
    request: web.Request, what: str, get: Callable[[int], Awaitable[Row | None]]
) -> Row:
    """The row the URL's ``{id}`` names, or a 404."""
    row_id = path_id(request, what)
    row = await get(row_id)
    if row is None:
        raise not_found(what, row_id)
    return row


async def update_row(
    request: web.Request, client: ClientKey, what: str, fields: dict[str, Any],
    update: Callable[..., Awaitable[Row | None]], id_field: str, label: str | None = None,
) -> Row:
    """Update the row the URL's ``{id}`` names with ``fields`` (404 if none), apply, log;
    returns the updated row."""
    row_id = path_id(request, what)
    row = await update(row_id, **fields)
    if row is None:
        raise not_found(what, row_id)
    await apply_change(request)
    log_change(client, f"{label or what} updated", **{id_field: row_id},
               fields=sorted(fields))
    return row


async def delete_row(
    request: web.Request, client: ClientKey, what: str,
    delete: Callable[[int], Awaitable[bool]], id_field: str, **extra: Any,
) -> web.Response:
    """Delete the row the URL's ``{id}`` names (404 if none), apply, log, answer."""
    row_id = path_id(request, what)
    if not await delete(row_id):
        raise not_found(what, row_id)
    await apply_change(request)
    log_change(client, f"{what} deleted", **{id_field: row_id}, **extra)
    return deleted(row_id, **extra)


def log_change(client: ClientKey, action: str, **fields: Any) -> None:
    """One INFO line per admin change: who did what to which row (never a secret)."""
    log.info(f"admin: {action}",
             extra={"admin_key_id": client.id, "admin_key_name": client.name, **fields})
