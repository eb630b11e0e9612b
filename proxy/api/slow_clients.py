"""A deadline on writes to a client: one that accepts no data for ``SLOW_CLIENT_TIMEOUT``
seconds is disconnected.

A client that stops reading fills the socket buffers, and then every write waits for it.
Without a deadline that wait has no end: the request holds its router relay, its reply
channel and, through them, a provider worker and an upstream connection. With it, the
connection is aborted; aiohttp then cancels the handler (``handler_cancellation``), which
closes the relay and so cancels the upstream call. Nothing of this is charged to the
provider (see ``supervisors.worker``: the worker's own wait for the caller is bounded the
same way and stops its time budget).

One timer per response, not one per write: a write notes when it started, and the timer
(every half deadline while idle, at the exact deadline while a write is pending) aborts
the connection once a write has waited the whole deadline.

The same timer keeps a quiet stream alive: when the front end has a ``keepalive`` event
(Anthropic's ``ping``) and nothing was written for half the deadline, it writes one.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

__all__ = ["WATCHED_BODY", "WriteWatch", "send_whole"]

#: a whole answer up to this size is handed to aiohttp as is: it cannot block on the
#: client (aiohttp waits for the socket only past 64 KB of unsent data)
WATCHED_BODY = 64 * 1024


class WriteWatch:
    __slots__ = ("_keepalive", "_last_write", "_limit", "_loop", "_pending_since", "_ping",
                 "_request", "_response", "_timer", "expired")

    def __init__(self, request: web.Request, response: web.StreamResponse,
                 limit: float, keepalive: bytes | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._keepalive = keepalive
        self._last_write = self._loop.time()
        self._ping: asyncio.Task[None] | None = None
        self._request = request
        self._response = response
        self._limit = limit
        self._pending_since: float | None = None
        #: the client was disconnected for not reading
        self.expired = False
        self._timer = self._loop.call_later(limit / 2, self._check)

    async def write(self, data: bytes) -> None:
        self._pending_since = self._loop.time()
        await self._response.write(data)
        self._pending_since = None
        self._last_write = self._loop.time()

    async def write_eof(self) -> None:
        self._pending_since = self._loop.time()
        await self._response.write_eof()
        self._pending_since = None

    def close(self) -> None:
        self._timer.cancel()
        if self._ping is not None:
            self._ping.cancel()

    def _check(self) -> None:
        since, now = self._pending_since, self._loop.time()
        if since is not None and now - since >= self._limit:
            self.expired = True
            transport = self._request.transport
            if transport is not None:
                transport.abort()
            return
        if (since is None and self._keepalive is not None and self._ping is None
                and now - self._last_write >= self._limit / 2):
            self._ping = self._loop.create_task(self._send_keepalive(self._keepalive))
        wait = self._limit / 2 if since is None else since + self._limit - now
        self._timer = self._loop.call_later(wait, self._check)

    async def _send_keepalive(self, data: bytes) -> None:
        try:
            await self.write(data)
        except (ConnectionResetError, RuntimeError):
            pass  # the stream ended meanwhile: the relay loop reports it
        finally:
            self._ping = None

async def send_whole(request: web.Request, body: bytes, headers: dict[str, str],
                     limit: float) -> web.StreamResponse:
    """A large JSON answer, written under the same deadline as a stream."""
    response = web.StreamResponse(headers=headers)
    response.content_type = "application/json"
    response.content_length = len(body)
    await response.prepare(request)
    watch = WriteWatch(request, response, limit)
    try:
        await watch.write(body)
        await watch.write_eof()
    finally:
        watch.close()
    return response
