"""Writing Server-Sent Events to the client: one ``write`` per upstream batch.

Framing lives here only. Chunks relayed unchanged are written from their original bytes.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from supervisors.errors import ProxyError
from supervisors.messages import Chunk

__all__ = ["SSE_HEADERS", "encode_batch", "encode_error", "open_stream", "DONE"]

DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}


def encode_batch(chunks: list[Chunk]) -> bytes:
    dumps = orjson.dumps
    if len(chunks) == 1:
        c = chunks[0]
        return b"data: " + (c.raw if c.raw is not None else dumps(c.obj)) + b"\n\n"
    parts: list[bytes] = []
    append = parts.append
    for c in chunks:
        append(b"data: ")
        append(c.raw if c.raw is not None else dumps(c.obj))
        append(b"\n\n")
    return b"".join(parts)


def encode_error(err: ProxyError) -> bytes:
    return b"data: " + err.to_json() + b"\n\n"


async def open_stream(request: web.Request, headers: dict[str, Any]) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={**SSE_HEADERS, **headers})
    await resp.prepare(request)
    return resp
