"""A hand-written upstream for the hardening tests: an aiohttp app with the given POST
routes, on a free loopback port, served from a thread with its own event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

__all__ = ["ThreadedApp"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ThreadedApp:
    def __init__(self, routes: Mapping[str, Handler]) -> None:
        self.url = ""
        self._routes = dict(routes)
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        for path, handler in self._routes.items():
            app.router.add_post(path, handler)
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> ThreadedApp:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
