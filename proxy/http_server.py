"""The aiohttp runner we serve with: requests the HTTP parser rejects (junk headers, bad
request lines) also get an OpenAI-shaped JSON error, never aiohttp's plain-text page."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from supervisors.errors import InvalidRequest, ProxyError

__all__ = ["GatewayRunner"]

log = logging.getLogger("proxy.http")


class _JsonErrorHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error")
        if 400 <= status < 500:
            # the parser's first line only: the rest may echo raw header bytes
            summary = (message or "Bad request").splitlines()[0][:200]
            err: ProxyError = InvalidRequest(f"Malformed HTTP request: {summary}",
                                             code="malformed_request")
            err.status = status
            log.debug("malformed request rejected", extra={"status": status})
        else:
            err = ProxyError("Internal server error.")
            log.error("request handling failed", exc_info=exc)
        resp = web.Response(status=status, body=err.to_json(), content_type="application/json")
        resp.force_close()
        return resp


class _GatewayServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _GatewayServer
        return server
