"""Shared HTTP plumbing of the fakes: request keys, JSON, and the fault-aware stream writer.

A fake builds its stream as a list of :class:`Frame` (already framed bytes: SSE
events or NDJSON lines); :func:`send_stream` writes them and applies the
request's fault (first-token/chunk delays, cut, stall, malformed event, in-stream
error, missing terminator).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from aiohttp import web

from .faults import Fault
from .state import STATE, Kind

__all__ = [
    "ABORTED",
    "BODY",
    "FAULT",
    "INVALID_JSON",
    "NO_FAULT",
    "Dialect",
    "ErrorBuilder",
    "Frame",
    "abort",
    "dumps",
    "json_response",
    "new_id",
    "note_disconnect",
    "send_stream",
    "wait_until_closing",
]

_REASONS = {529: "Overloaded"}  # statuses http.HTTPStatus does not know
LONG_WAIT_S = 600.0  # upper bound for hang/stall: they end earlier when the client goes


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID_JSON"


INVALID_JSON: Any = _Invalid()
NO_FAULT = Fault()
BODY = web.RequestKey("fake_body", object)
FAULT = web.RequestKey("fake_fault", Fault)
ABORTED = web.RequestKey("fake_aborted", bool)
_DISCONNECT_NOTED = web.RequestKey("fake_disconnect_noted", bool)


class ErrorBuilder(Protocol):
    """Builds the provider's own error response."""

    def __call__(
        self,
        status: int,
        message: str | None = None,
        *,
        code: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> web.Response: ...


@dataclass(frozen=True)
class Dialect:
    """What makes one fake provider different from the others."""

    kind: Kind
    routes: tuple[web.RouteDef, ...]
    api_key: Callable[[web.Request], str | None]
    check_auth: Callable[[web.Request, frozenset[str] | None], web.Response | None]
    error: ErrorBuilder


@dataclass(frozen=True)
class Frame:
    data: bytes
    content: bool = False  # carries answer content: counted by *_after_chunks faults
    final: bool = False  # the terminator (``[DONE]``, ``message_stop``, ``done: true``)


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + uuid.uuid4().hex[:length]


def json_response(
    obj: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dumps(obj), status=status, headers=headers, reason=_REASONS.get(status),
        content_type="application/json", charset="utf-8",
    )


def note_disconnect(request: web.Request) -> None:
    """Count a client that went away mid-response (not our own aborts, not shutdown)."""
    state = request.app[STATE]
    if request.get(ABORTED) or request.get(_DISCONNECT_NOTED) or state.closing.is_set():
        return
    request[_DISCONNECT_NOTED] = True
    state.disconnected()


def abort(request: web.Request) -> None:
    """Drop the TCP connection at once (RST), as a crashing upstream would."""
    request[ABORTED] = True
    transport = request.transport
    if transport is not None:
        transport.abort()


async def wait_until_closing(request: web.Request) -> None:
    """Wait until the server stops (the client leaving cancels this handler earlier)."""
    state = request.app[STATE]
    try:
        await asyncio.wait_for(state.closing.wait(), timeout=LONG_WAIT_S)
    except TimeoutError:
        pass


async def send_stream(
    request: web.Request,
    frames: Iterable[Frame],
    *,
    content_type: str,
    headers: Mapping[str, str],
    malformed: bytes,
    error_frame: bytes,
) -> web.StreamResponse:
    fault = request.get(FAULT) or NO_FAULT
    state = request.app[STATE]
    resp = web.StreamResponse(status=200, headers={"Content-Type": content_type, **headers})
    await resp.prepare(request)
    state.stream_opened()
    try:
        sent = 0
        if await _after_content(request, resp, fault, sent, malformed, error_frame):
            return resp
        for frame in frames:
            if frame.final and fault.no_done:
                continue
            if frame.content:
                delay = fault.first_token_delay_ms if sent == 0 else fault.chunk_delay_ms
                if delay:
                    await asyncio.sleep(delay / 1000)
            await resp.write(frame.data)
            if frame.content:
                sent += 1
                if await _after_content(request, resp, fault, sent, malformed, error_frame):
                    return resp
        await resp.write_eof()
    except ConnectionResetError:  # aiohttp's ClientConnectionResetError included
        note_disconnect(request)
    finally:
        state.stream_closed()
    return resp


async def _after_content(
    request: web.Request,
    resp: web.StreamResponse,
    fault: Fault,
    sent: int,
    malformed: bytes,
    error_frame: bytes,
) -> bool:
    """Apply the fault after ``sent`` content frames; True when the stream is over."""
    if fault.malformed_after_chunks == sent:
        await resp.write(malformed)
    if fault.cut_after_chunks == sent:
        abort(request)
        return True
    if fault.error_event_after_chunks == sent:
        await resp.write(error_frame)
        await resp.write_eof()
        return True
    if fault.stall_after_chunks == sent:
        await wait_until_closing(request)
        abort(request)
        return True
    return False
