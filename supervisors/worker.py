"""Running one :class:`Call` against the upstream: keys, timeouts, the stream relay.

A worker task loops over its provider's inbox and runs each call here. Answers go to
the call's reply queue; the outcome feeds the provider's circuit breaker and key pool.

An exception while serving a call fails that call alone, never the worker, and is blamed
by where it happened: the adapter building the upstream request → 400
(``UntranslatableRequest``, the request's fault); the adapter reading the upstream's
answer → 502 (``UntranslatableAnswer``, the upstream's fault, charged to its circuit);
anywhere else → 500 (``InternalError``, our bug, counted in ``crashes``, charged to
nothing).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import aiohttp

from .errors import (
    InternalError,
    ProxyError,
    Unavailable,
    UnsupportedOperation,
    UntranslatableAnswer,
    UntranslatableRequest,
    UpstreamError,
    UpstreamTimeout,
)
from .messages import Call, Chunk, StreamEnd
from .transport import UpstreamResponse, translate_read_error

if TYPE_CHECKING:
    from .adapters.base import StreamDecoder
    from .keypool import PoolKey
    from .provider import ProviderSupervisor

__all__ = ["has_content", "worker_loop"]

log = logging.getLogger("supervisors.worker")

_ERROR_BODY_LIMIT = 64 * 1024
_READ_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
_DEFAULT_COOLDOWN = 5.0
RECHECK_EVERY = 30.0
_KEY_WAIT = 0.25


#: Anthropic stream events that carry content (``message_start`` and ``ping`` do not;
#: an empty text or thinking block start does not either)
_CONTENT_EVENTS = frozenset({"content_block_delta", "message_delta"})


def has_content(chunk: Chunk) -> bool:
    """True for a chunk that carries text, a tool call, a refusal or a finish reason
    (or, relayed natively, an Anthropic content block or the final ``message_delta``)."""
    obj = chunk.obj
    choices = obj.get("choices")
    if not choices:
        return "choices" not in obj and _native_content(obj)
    for choice in choices:
        if choice.get("finish_reason") or choice.get("text"):
            return True
        delta = choice.get("delta")
        if delta and (delta.get("content") or delta.get("tool_calls") or delta.get("refusal")):
            return True
    return False


def _native_content(event: dict[str, Any]) -> bool:
    kind = event.get("type")
    if kind in _CONTENT_EVENTS:
        return True
    if kind != "content_block_start":
        return False
    block = event.get("content_block")
    if not isinstance(block, dict):
        return False
    if block.get("type") in ("text", "thinking"):
        return bool(block.get("text") or block.get("thinking"))
    return True


async def worker_loop(sup: ProviderSupervisor) -> None:
    """One concurrency slot of a provider. Exits only by cancellation or a crash."""
    task = asyncio.current_task()
    assert task is not None
    inbox = sup.inbox
    loop = asyncio.get_running_loop()
    while True:
        call = await inbox.get()
        if call.abandoned:
            sup.breaker.release()
            continue
        call.worker = task
        call.started = loop.time()
        sup.in_flight += 1
        try:
            await _execute(sup, call)
        except asyncio.CancelledError:
            if call.abandoned and task.uncancel() == 0:
                sup.breaker.release()
                continue
            _answer_nowait(call, Unavailable("provider is shutting down", provider=sup.name))
            raise
        finally:
            call.worker = None
            sup.call_done()


def _answer_nowait(call: Call, error: ProxyError) -> None:
    call.reply.force(error)


class _Budget:
    """The call's time budget: one timer that cancels the worker task when it fires
    (``asyncio.timeout`` costs about 10 µs a call on this path; this, a third of it)."""

    __slots__ = ("_handle", "_loop", "expired", "moved", "task")

    def __init__(self, when: float) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.expired = False
        self.moved = False
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self.expired = True
        self.task.cancel("time budget")

    def move(self, when: float) -> None:
        self.moved = True
        self._handle.cancel()
        self._handle = self._loop.call_at(when, self._fire)

    def cancel(self) -> None:
        self._handle.cancel()


async def _execute(sup: ProviderSupervisor, call: Call) -> None:
    # first the first-token budget; streams move it to the total deadline once it arrives
    first_by = min(call.deadline,
                   asyncio.get_running_loop().time() + sup.spec.config.first_token_timeout)
    budget = _Budget(first_by)
    try:
        try:
            await _attempt(sup, call, budget)
        finally:
            budget.cancel()
    except ProxyError as err:
        err.provider = sup.name
        if isinstance(err, UntranslatableRequest | UntranslatableAnswer):
            log.warning("adapter could not translate", exc_info=err.__cause__, extra={
                "provider": sup.name, "error": err.message, "request_id": call.request_id})
        sup.record_failure(err, call)
        await call.reply.put(err)
        return
    except asyncio.CancelledError:
        if not budget.expired:
            raise
        if budget.task.uncancel() > 0:  # also abandoned or shut down: let worker_loop decide
            raise
        what = ("upstream request exceeded its time budget" if budget.moved
                or first_by == call.deadline
                else "upstream sent no first token within first_token_timeout")
        timeout = UpstreamTimeout(what, provider=sup.name)
        sup.record_failure(timeout, call)
        await call.reply.put(timeout)
        return
    except Exception as exc:
        # a bug of ours: this call fails with a clean 500, the worker takes the next one
        log.error("call failed on an internal error", exc_info=exc, extra={
            "provider": sup.name, "error": type(exc).__name__, "request_id": call.request_id})
        crash = InternalError(f"internal error: the provider worker crashed on this call "
                              f"({type(exc).__name__})",
                              provider=sup.name)
        sup.record_failure(crash, call)
        _answer_nowait(call, crash)
        return
    sup.record_success(call)


def _request_fault(exc: Exception) -> UntranslatableRequest:
    return UntranslatableRequest(
        f"this request cannot be translated for the provider: {_describe(exc)}")


def _answer_fault(exc: Exception) -> UntranslatableAnswer:
    return UntranslatableAnswer(f"the upstream's answer could not be translated: {_describe(exc)}")


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


async def _attempt(sup: ProviderSupervisor, call: Call, budget: _Budget) -> None:
    adapter, config = sup.adapter, sup.spec.config
    if call.op not in adapter.ops:
        raise UnsupportedOperation(
            f"provider type {sup.spec.type!r} does not support {call.op}", provider=sup.name
        )
    if not call.stream:
        # a whole answer is its own first token: the budget covers headers and body
        resp = await _open(sup, call)
        try:
            raw = await resp.read(int(config.extra.get("max_response_bytes", 32 << 20)))
        finally:
            resp.close()
        try:
            result = adapter.parse_response(call.op, raw, call.body)
        except ProxyError:
            raise
        except Exception as exc:
            raise _answer_fault(exc) from exc
        await call.reply.put(result)
        return
    try:
        decoder = adapter.stream_decoder(call.op, call.body)
    except ProxyError:
        raise
    except Exception as exc:
        raise _request_fault(exc) from exc
    resp = await _open(sup, call)
    try:
        first, ended = await _until_content(resp, decoder)
    except BaseException:
        resp.close()
        raise
    budget.move(call.deadline)
    try:
        if ended:  # the whole (short) body came before any content: nothing left to read
            if first:
                await call.reply.put(first)
            await call.reply.put(StreamEnd(decoder.done, decoder.usage, decoder.malformed))
        else:
            await _relay(call, resp, decoder, first)
    finally:
        resp.close()


async def _open(sup: ProviderSupervisor, call: Call) -> UpstreamResponse:
    """Send the request with the next usable key; key faults move on to the next key."""
    pool, adapter, spec = sup.pool, sup.adapter, sup.spec
    tried: set[int | str] = set()
    last_key_error: ProxyError | None = None
    waited = False
    while True:
        key: PoolKey | None = None
        if pool.total:
            key = _recheck(sup, tried) or pool.acquire(exclude=tried)
            if key is None:
                key = pool.recheck_candidate()
            if key is None and not waited:
                # a key that comes back within moments (the router waited out its
                # Retry-After on a slightly different clock) is worth the short wait
                soon = pool.next_available_in()
                if soon is not None and soon <= _KEY_WAIT:
                    waited = True
                    await asyncio.sleep(soon + 0.002)
                    continue
            if key is None:
                if last_key_error is not None and last_key_error.retryable:
                    raise last_key_error
                detail = f": {last_key_error.message}" if last_key_error else ""
                raise Unavailable(
                    f"no usable upstream key for provider {sup.name!r}{detail}",
                    retry_after=pool.next_available_in(),
                    provider=sup.name,
                )
            tried.add(key.id)
        try:
            request = adapter.build_request(
                call.op, call.body, stream=call.stream, spec=spec, key=key.secret if key else None
            )
        except ProxyError:
            raise
        except Exception as exc:  # e.g. a shape the adapter trips on, JSON too deep to encode
            raise _request_fault(exc) from exc
        request.headers["x-request-id"] = call.request_id
        if call.headers:
            request.headers.update(call.headers)
        resp = await sup.transport.send(
            request,
            connect_timeout=spec.config.connect_timeout,
            # a whole answer is bounded by the call's budget; only streams need idle checks
            idle_timeout=spec.config.idle_timeout if call.stream else None,
        )
        if resp.status < 400:
            if key is not None and (key.last_error is not None or not key.healthy):
                pool.mark_success(key)
            return resp
        try:
            raw = await resp.read(_ERROR_BODY_LIMIT)
        finally:
            resp.close()
        try:
            err = adapter.parse_error(resp.status, raw, resp.headers, spec.name)
        except Exception as exc:
            raise _answer_fault(exc) from exc
        if resp.status in (401, 403):
            if key is None:  # a keyless provider refusing us: its set-up, not the request
                raise UpstreamError(
                    f"provider {sup.name!r} refused the proxy (HTTP {resp.status}): "
                    f"{err.message[:200]}", provider=sup.name)
            pool.mark_unauthorized(key, f"HTTP {resp.status}: {err.message[:200]}")
            last_key_error = err
            continue
        if key is not None and resp.status == 429:
            # with Retry-After the key rests that long (the router's retry waits as long);
            # without it, a lone key stays usable so the router's backoff can retry it
            if err.retry_after or pool.total > 1:
                pool.cool_down(key, err.retry_after or _DEFAULT_COOLDOWN, "HTTP 429")
            last_key_error = err
            if pool.total > 1:
                continue
        raise err


def _recheck(sup: ProviderSupervisor, tried: set[int | str]) -> PoolKey | None:
    """Every ``RECHECK_EVERY`` seconds one request tries a key that failed with 401/403,
    so a key fixed upstream comes back without an admin rotating it."""
    now = asyncio.get_running_loop().time()
    if tried or now < sup.next_recheck:
        return None
    sup.next_recheck = now + RECHECK_EVERY
    return sup.pool.recheck_candidate()


async def _until_content(
    resp: UpstreamResponse, decoder: StreamDecoder
) -> tuple[list[Chunk], bool]:
    """Read until the first chunk with content, so a slow first token can still fail over.
    Returns the chunks so far and whether the body already ended (decoder closed)."""
    pending: list[Chunk] = []
    try:
        while True:
            try:
                data = await resp.readany()
            except _READ_ERRORS as exc:
                raise translate_read_error(exc, started=False) from exc
            if not data:
                pending.extend(decoder.close())
                return pending, True
            chunks = decoder.feed(data)
            if chunks:
                pending.extend(chunks)
                if any(has_content(c) for c in chunks):
                    return pending, False
    except ProxyError:
        raise
    except Exception as exc:  # the decoder (or has_content) choked on what the upstream sent
        raise _answer_fault(exc) from exc


async def _relay(
    call: Call, resp: UpstreamResponse, decoder: StreamDecoder, first: list[Chunk]
) -> None:
    put = call.reply.put
    if first:
        await put(first)
    readany, feed = resp.readany, decoder.feed
    try:
        while True:
            try:
                data = await readany()
            except _READ_ERRORS as exc:
                raise translate_read_error(exc, started=True) from exc
            if not data:
                break
            chunks = feed(data)
            if chunks:
                await put(chunks)
        tail = decoder.close()
    except ProxyError:
        raise
    except Exception as exc:  # the decoder choked on what the upstream sent
        raise _answer_fault(exc) from exc
    if tail:
        await put(tail)
    await put(StreamEnd(decoder.done, decoder.usage, decoder.malformed))

