"""``FakeUpstream``: one fake provider on 127.0.0.1, in its own thread and event loop.

Sync SDK clients, in-process async tests and subprocesses can all reach it. Tests
steer it from their own thread (``add_fault``, ``stats``) or over HTTP
(``POST/DELETE /_fault``, ``GET /_stats``, ``POST /_reset``, ``GET /_requests``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from . import anthropic_fake, ollama_fake, openai_fake
from .faults import Fault, parse_fault
from .state import STATE, FakeState, Kind, RecordedRequest
from .wire import (
    BODY,
    FAULT,
    INVALID_JSON,
    NO_FAULT,
    Dialect,
    abort,
    json_response,
    note_disconnect,
    wait_until_closing,
)

__all__ = ["FakeUpstream", "build_app"]

DIALECT = web.AppKey("fake_dialect", Dialect)
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
SHUTDOWN_GRACE_S = 1.0
MAX_BODY_BYTES = 64 * 1024 * 1024


def _dialect(kind: Kind) -> Dialect:
    if kind == "openai":
        return openai_fake.DIALECT
    if kind == "anthropic":
        return anthropic_fake.DIALECT
    if kind == "ollama":
        return ollama_fake.DIALECT
    raise ValueError(f"unknown fake kind {kind!r}")


async def _read_json(request: web.Request) -> Any:
    if not request.body_exists:
        return None if request.method == "GET" else INVALID_JSON
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return INVALID_JSON


async def _before_headers(request: web.Request, fault: Fault, dialect: Dialect) -> web.StreamResponse | None:
    if fault.delay_ms:
        await asyncio.sleep(fault.delay_ms / 1000)
    if fault.hang:
        await wait_until_closing(request)
        abort(request)
        return web.Response(status=503)
    if fault.reset:
        abort(request)
        return web.Response(status=502)
    if fault.status is not None:
        resp = dialect.error(fault.status, fault.message, code=fault.code, body=fault.body,
                             retry_after=fault.retry_after)
        if fault.retry_after_header is not None:
            resp.headers.popall("retry-after-ms", None)
            resp.headers["Retry-After"] = fault.retry_after_header
        return resp
    return None


async def _slow_body(request: web.Request, resp: web.Response, delay_ms: int) -> web.StreamResponse:
    """``resp`` with its headers and first bytes now and the rest after ``delay_ms``."""
    body = resp.body if isinstance(resp.body, bytes) else b""
    slow = web.StreamResponse(status=resp.status, headers={
        k: v for k, v in resp.headers.items() if k.lower() != "content-length"})
    slow.content_length = len(body)
    await slow.prepare(request)
    half = len(body) // 2
    await slow.write(body[:half])
    await asyncio.sleep(delay_ms / 1000)
    await slow.write(body[half:])
    await slow.write_eof()
    return slow


@web.middleware
async def _fake_middleware(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    if request.path.startswith("/_"):
        return await handler(request)
    state, dialect = request.app[STATE], request.app[DIALECT]
    body = await _read_json(request)
    request[BODY] = body
    key = dialect.api_key(request)
    state.record(RecordedRequest(request.method, request.path, dict(request.headers),
                                 None if body is INVALID_JSON else body, key))
    try:
        model = body.get("model") if isinstance(body, dict) else None
        fault = state.take_fault(request.path, model if isinstance(model, str) else None, key)
        request[FAULT] = fault or NO_FAULT
        if fault is not None and (early := await _before_headers(request, fault, dialect)):
            return early
        if (denied := dialect.check_auth(request, state.keys)) is not None:
            return denied
        try:
            resp = await handler(request)
            if (fault is not None and fault.body_delay_ms and isinstance(resp, web.Response)
                    and not resp.prepared):
                return await _slow_body(request, resp, fault.body_delay_ms)
            return resp
        except web.HTTPNotFound:
            return dialect.error(404, f"Unknown request URL: {request.method} {request.path}.")
        except web.HTTPMethodNotAllowed:
            return dialect.error(405, f"Method {request.method} not allowed for {request.path}.")
    except asyncio.CancelledError:
        note_disconnect(request)
        raise
    finally:
        state.finished()


async def _add_fault(request: web.Request) -> web.Response:
    try:
        spec = orjson.loads(await request.read())
        faults = [parse_fault(s) for s in (spec if isinstance(spec, list) else [spec])]
        for fault in faults:
            request.app[STATE].faults.add(fault)
    except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
        return json_response({"error": str(exc)}, status=400)
    return json_response({"ok": True, "pending": len(request.app[STATE].faults)})


async def _clear_faults(request: web.Request) -> web.Response:
    request.app[STATE].faults.clear()
    return json_response({"ok": True})


async def _stats(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].stats())


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE].reset_stats()
    return json_response({"ok": True})


async def _requests(request: web.Request) -> web.Response:
    return json_response([r.as_dict() for r in request.app[STATE].requests])


def build_app(state: FakeState) -> web.Application:
    app = web.Application(middlewares=[_fake_middleware], client_max_size=MAX_BODY_BYTES)
    app[STATE] = state
    app[DIALECT] = _dialect(state.kind)
    app.add_routes(_dialect(state.kind).routes)
    app.add_routes([
        web.post("/_fault", _add_fault), web.delete("/_fault", _clear_faults),
        web.get("/_stats", _stats), web.post("/_reset", _reset), web.get("/_requests", _requests),
    ])
    return app


class FakeUpstream:
    """A fake ``openai``/``anthropic``/``ollama`` server; ``with FakeUpstream(...) as fake:``."""

    def __init__(
        self,
        kind: Kind,
        *,
        keys: Iterable[str] | None = None,
        port: int = 0,
        models: Iterable[str] | None = None,
        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
    ) -> None:
        _dialect(kind)
        self.kind: Kind = kind
        self.url = ""
        self.base_url = ""
        self._port = port
        self._state = FakeState(kind, keys, models)
        self._loop_factory = loop_factory or asyncio.new_event_loop
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> FakeUpstream:
        if self._thread is not None:
            raise RuntimeError("FakeUpstream already started")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name=f"fake-{self.kind}", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"fake {self.kind} server did not start in {START_TIMEOUT_S}s")
        if self._error is not None:
            self._thread.join(STOP_TIMEOUT_S)
            self._thread = None
            raise RuntimeError(f"fake {self.kind} server failed to start") from self._error
        return self

    def stop(self) -> None:
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop_event.set)
            except RuntimeError:  # loop closed between the check and the call
                pass
        thread.join(STOP_TIMEOUT_S)
        self._thread = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        loop = self._loop_factory()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._stop_event = asyncio.Event()
        self._state.closing = asyncio.Event()
        runner = web.AppRunner(build_app(self._state), handler_cancellation=True,
                               shutdown_timeout=SHUTDOWN_GRACE_S, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", self._port)
            await site.start()
            port = runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}"
            self.base_url = self.url + "/v1" if self.kind == "openai" else self.url
            self._ready.set()
            await self._stop_event.wait()
        finally:
            self._state.closing.set()  # releases hanging and stalled handlers
            await runner.cleanup()

    # -- control (any thread) -------------------------------------------------
    def add_fault(self, **spec: Any) -> None:
        self._state.faults.add(parse_fault(spec))

    def clear_faults(self) -> None:
        self._state.faults.clear()

    def stats(self) -> dict[str, Any]:
        return self._state.stats()

    def reset_stats(self) -> None:
        self._state.reset_stats()

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._state.requests

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1]) if self.url else self._port
