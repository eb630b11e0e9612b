"""Sending an :class:`UpstreamRequest`: one pooled aiohttp session, or the in-process mock.

Foreign exceptions are translated here, once, into the error hierarchy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

import aiohttp

from .adapters.base import UpstreamRequest
from .errors import StreamBroken, UpstreamConnectError, UpstreamError, UpstreamTimeout

__all__ = ["HttpTransport", "Transport", "UpstreamResponse", "translate_read_error"]


class UpstreamResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    async def read(self, limit: int) -> bytes: ...
    async def readany(self) -> bytes: ...
    def close(self) -> None: ...


class Transport(Protocol):
    async def send(
        self, req: UpstreamRequest, *, connect_timeout: float, idle_timeout: float | None
    ) -> UpstreamResponse: ...


class _AiohttpResponse:
    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        # case-insensitive already (the adapters' parse_error / parse_retry_after look up
        # lower-case names): no copy per response
        self.headers: Mapping[str, str] = resp.headers

    async def read(self, limit: int) -> bytes:
        content = self._resp.content
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                data = await content.readany()
                if not data:
                    break
                size += len(data)
                if size > limit:
                    raise UpstreamError(f"upstream response larger than {limit} bytes")
                parts.append(data)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise translate_read_error(exc, started=False) from exc
        return b"".join(parts)

    async def readany(self) -> bytes:
        return await self._resp.content.readany()

    def close(self) -> None:
        self._resp.close()


def translate_read_error(exc: BaseException, *, started: bool) -> UpstreamError | UpstreamTimeout:
    """A failure while reading the body; ``started`` says whether a chunk got through."""
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        if started:
            return StreamBroken("upstream stream stalled past idle_timeout")
        return UpstreamTimeout("upstream timed out")
    if started:
        return StreamBroken(f"upstream stream broke: {type(exc).__name__}")
    return UpstreamConnectError(f"upstream connection failed: {type(exc).__name__}")


class HttpTransport:
    """All providers share one session (keep-alive pool) owned by the app lifecycle."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        self._timeouts: dict[tuple[float, float | None], aiohttp.ClientTimeout] = {}

    def _timeout(self, connect: float, idle: float | None) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get((connect, idle))
        if timeout is None:
            if len(self._timeouts) > 256:  # bounded: configs change rarely
                self._timeouts.clear()
            timeout = self._timeouts[(connect, idle)] = aiohttp.ClientTimeout(
                total=None, sock_connect=connect, sock_read=idle
            )
        return timeout

    async def send(
        self, req: UpstreamRequest, *, connect_timeout: float, idle_timeout: float | None
    ) -> UpstreamResponse:
        timeout = self._timeout(connect_timeout, idle_timeout)
        try:
            resp = await self._session.request(
                req.method, req.url, data=req.body, headers=req.headers, timeout=timeout,
                allow_redirects=False,
            )
        except aiohttp.ServerTimeoutError as exc:
            raise UpstreamTimeout("upstream did not answer in time") from exc
        except (aiohttp.ClientError, OSError) as exc:
            why = getattr(exc, "strerror", None)  # e.g. "Connection refused"
            raise UpstreamConnectError(
                f"could not reach upstream: {type(exc).__name__}" + (f" ({why})" if why else "")
            ) from exc
        except asyncio.TimeoutError as exc:  # noqa: UP041 - aiohttp may raise the alias
            raise UpstreamTimeout("upstream did not answer in time") from exc
        return _AiohttpResponse(resp)
