"""A local OTLP/HTTP receiver for the ``features`` phase: answers 200 to every
``POST /v1/traces`` (the exporter's protobuf body is read and counted, not decoded) and
``GET /stats`` with how many export requests and bytes arrived, so the bench can check
that traced requests really were exported.

    python -m scripts.bench_lib.otlp_sink --port 4318
"""

from __future__ import annotations

import argparse
import sys

import uvloop
from aiohttp import web

__all__ = ["main"]

_STATS = web.AppKey("stats", dict)


async def traces(request: web.Request) -> web.Response:
    body = await request.read()
    stats = request.app[_STATS]
    stats["exports"] += 1
    stats["bytes"] += len(body)
    # an empty ExportTraceServiceResponse (protobuf: no fields set)
    return web.Response(body=b"", content_type="application/x-protobuf")


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATS])


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[_STATS] = {"exports": 0, "bytes": 0}
    app.router.add_post("/v1/traces", traces)
    app.router.add_get("/stats", stats)
    app.router.add_get("/health", health)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None,
                loop=uvloop.new_event_loop())
    return 0


if __name__ == "__main__":
    sys.exit(main())
