"""Console sign-in: an encrypted session cookie, CSRF tokens, slowed wrong credentials.

The cookie (``aiohttp-session``'s ``EncryptedCookieStorage``: Fernet, so signed and
encrypted) is HttpOnly, SameSite=Strict and expires after ``SESSION_MAX_AGE``; its key is
derived from ``SECRET_KEY``, so every replica accepts it. It holds the keyed hash of the
admin credential (never the credential) and the CSRF token; each request looks the
identity up again, so a deleted, disabled, expired or demoted admin key — or a changed
``ADMIN_API_KEY`` — ends its sessions at once.

Wrong credentials are counted (``proxy_console_sign_in_failures_total``, a log line
without the credential) and slowed: each failure from an address waits longer, up to
``MAX_PENALTY`` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from aiohttp import web
from aiohttp_session import Session, get_session, new_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from supervisors.errors import AuthenticationFailed

from ..appkeys import GATEWAY
from ..auth import ClientKey
from .dispatch import GATEWAY_APP, UNREAD

__all__ = ["ACTOR", "SESSION_MAX_AGE", "SignInThrottle", "action", "page", "storage"]

log = logging.getLogger("proxy.console")

SESSION_MAX_AGE = 8 * 3600
COOKIE_NAME = "openai_proxy_console"
MAX_PENALTY = 5.0
#: the signed-in admin of a console request
ACTOR = web.RequestKey("console_admin", ClientKey)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def storage(secret_key: str, *, secure: bool) -> EncryptedCookieStorage:
    key = hashlib.sha256(b"openai-proxy/console-session/v1\0" + secret_key.encode()).digest()
    return EncryptedCookieStorage(key, cookie_name=COOKIE_NAME, max_age=SESSION_MAX_AGE,
                                  httponly=True, samesite="Strict", secure=secure, path="/ui/")


def csrf_token(session: Session) -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and hmac.compare_digest(a, b)


async def signed_in(request: web.Request) -> ClientKey | None:
    session = await get_session(request)
    token_hash = session.get("admin")
    if not isinstance(token_hash, str):
        return None
    gateway = request.app[GATEWAY_APP][GATEWAY]
    return gateway.clients.admin_by_hash(token_hash)


def page(handler: Handler) -> Handler:
    """A page for signed-in admins; anyone else is sent to the sign-in page."""

    @wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        admin = await signed_in(request)
        if admin is None:
            raise web.HTTPSeeOther("/ui/login")
        request[ACTOR] = admin
        return await handler(request)

    return wrapped


def action(handler: Handler) -> Handler:
    """A change: signed-in admins only, with the session's CSRF token in the form."""

    @wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        admin = await signed_in(request)
        if admin is None:
            raise web.HTTPSeeOther("/ui/login")
        session = await get_session(request)
        request[ACTOR] = admin
        request[UNREAD] = request.clone()  # admin calls are cloned from it (dispatch)
        form = await request.post()
        if not _same(form.get("csrf"), session.get("csrf")):
            log.warning("console change refused: missing or wrong CSRF token",
                        extra={"path": request.path})
            return web.Response(status=403, text="Forbidden: missing or invalid CSRF token.")
        return await handler(request)

    return wrapped


class SignInThrottle:
    """Failures per client address; each failure waits longer (bounded, forgotten after
    a quiet ``window``)."""

    __slots__ = ("_failures", "window")

    def __init__(self, window: float = 300.0) -> None:
        self.window = window
        self._failures: dict[str, tuple[int, float]] = {}

    def penalty(self, address: str) -> float:
        count, last = self._failures.get(address, (0, 0.0))
        if time.monotonic() - last > self.window:
            return 0.0
        return min(MAX_PENALTY, 0.5 * (2 ** min(count, 4)))

    def failed(self, address: str) -> int:
        now = time.monotonic()
        count, last = self._failures.get(address, (0, now))
        count = 1 if now - last > self.window else count + 1
        if len(self._failures) > 10_000:
            self._failures.clear()
        self._failures[address] = (count, now)
        return count

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


async def sign_in(request: web.Request, credential: str, throttle: SignInThrottle,
                  on_failure: Callable[[], None]) -> ClientKey | None:
    """Check an admin credential; on success a fresh session (no fixation) remembers it."""
    address = request.remote or "unknown"
    gateway = request.app[GATEWAY_APP][GATEWAY]
    try:
        admin = gateway.clients.authenticate_token(credential.strip())
    except AuthenticationFailed:
        admin = None
    if admin is None or not admin.is_admin:
        on_failure()
        count = throttle.failed(address)
        log.warning("console sign-in failed", extra={"remote": address, "failures": count})
        await asyncio.sleep(throttle.penalty(address))
        return None
    throttle.succeeded(address)
    session = await new_session(request)
    session["admin"] = gateway.clients.key_hash(credential.strip())
    csrf_token(session)
    log.info("console sign-in", extra={"admin": admin.name, "remote": address})
    return admin
