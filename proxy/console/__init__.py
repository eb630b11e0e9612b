"""The web console at ``/ui/``: a sub-application of the gateway, so its session and
security middlewares never run on the API's hot path.

Server-rendered pages (``aiohttp-jinja2``, autoescaped) over the admin API, called in
process (``dispatch``); one small script of our own for live refresh and copy buttons;
no external assets (a strict Content-Security-Policy says so to the browser too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session
from aiohttp_session import setup as setup_sessions

from ..appkeys import METRICS, SETTINGS
from . import forms, views
from .dispatch import GATEWAY_APP
from .session import SignInThrottle, csrf_token, sign_in, signed_in, storage

__all__ = ["mount_console"]

_HERE = Path(__file__).parent
_THROTTLE = web.AppKey("console_throttle", SignInThrottle)
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(_SECURITY_HEADERS)
        raise
    response.headers.update(_SECURITY_HEADERS)
    if not request.path.startswith("/ui/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    if await signed_in(request) is not None:
        raise web.HTTPSeeOther("/ui/")
    return await views.render(request, "login.html", "Sign in", "/ui/login")


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    session = await get_session(request)
    token, credential = form.get("csrf"), form.get("credential")
    if not isinstance(token, str) or token != csrf_token(session):
        return web.Response(status=403, text="Forbidden: missing or invalid CSRF token.")
    failures = request.app[GATEWAY_APP][METRICS].console_sign_in_failures
    admin = await sign_in(request, credential if isinstance(credential, str) else "",
                          request.app[_THROTTLE], lambda: failures.inc({}))
    if admin is None:
        return await views.render(request, "login.html", "Sign in", "/ui/login", status=401,
                                  problem="Wrong credential, or not an admin key.")
    raise web.HTTPSeeOther("/ui/")


async def logout(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    session = await get_session(request)
    token = form.get("csrf")
    if isinstance(token, str) and token == session.get("csrf"):
        session.invalidate()
    raise web.HTTPSeeOther("/ui/login")


def mount_console(app: web.Application) -> None:
    """Serve the console under ``/ui/`` of the gateway ``app``."""
    settings = app[SETTINGS]
    assert settings.secret_key is not None
    console = web.Application(middlewares=[_security_headers])
    console[GATEWAY_APP] = app
    console[_THROTTLE] = SignInThrottle()
    setup_sessions(console, storage(settings.secret_key, secure=settings.console_secure_cookie))
    aiohttp_jinja2.setup(console, loader=jinja2.FileSystemLoader(_HERE / "templates"),
                         autoescape=True)
    console.router.add_get("/", views.overview)
    console.router.add_get("/overview/tree", views.tree)
    console.router.add_get("/login", login_page)
    console.router.add_post("/login", login)
    console.router.add_post("/logout", logout)
    console.router.add_get("/providers", views.providers)
    console.router.add_get(r"/providers/{id:\d+}", views.provider)
    console.router.add_get("/routes", views.routes)
    console.router.add_get("/keys", views.keys)
    console.router.add_get("/usage", views.usage)
    console.router.add_get("/audit", views.audit)
    console.router.add_get(r"/audit/{id:\d+}", views.record)
    for path, handler in forms.ROUTES:
        console.router.add_post(path.replace("{id}", r"{id:\d+}"), handler)
    console.router.add_static("/static/", _HERE / "static")
    app.add_subapp("/ui/", console)
