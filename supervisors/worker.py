"""Running one :class:`Call` against the upstream: keys, timeouts, the stream relay.

A worker task loops over its provider's inbox and runs each call here. Answers go to
the call's reply queue; the outcome feeds the provider's circuit breaker and key pool.

Time budget of a call (PRODUCT.md "Timeouts per provider"): until the response headers
(streams: the first content chunk) it runs to ``call.first_token_by``, which the router
set when it sent the call, so time queued in the inbox counts; then to ``call.deadline``
(the provider's total ``timeout``). The budget stops while the worker waits for the caller
to take a reply: a slow client is never an upstream timeout. That wait is itself bounded
by ``call.client_timeout``; a caller that takes nothing for that long is treated as gone
(:class:`ClientTooSlow`) and the upstream request is closed.

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
    ClientTooSlow,
    InternalError,
    ProxyError,
    QueuedTooLong,
    Unavailable,
    UnsupportedOperation,
    UntranslatableAnswer,
    UntranslatableRequest,
    UpstreamTimeout,
)
from .masking import scrub_error
from .messages import Call, Chunk, Reply, StreamEnd
from .transport import UpstreamResponse, translate_read_error
from .upstream import answer_fault as _answer_fault
from .upstream import open_upstream as _open
from .upstream import request_fault as _request_fault

if TYPE_CHECKING:
    from .adapters.base import StreamDecoder
    from .provider import ProviderSupervisor

__all__ = ["has_content", "worker_loop"]

log = logging.getLogger("supervisors.worker")

_READ_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


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
    """One concurrency slot of a provider: takes calls from the inbox until it is
    cancelled (retired when idle, or at shutdown) or crashes."""
    task = asyncio.current_task()
    assert task is not None
    inbox = sup.inbox
    idle = sup.idle_workers
    loop = asyncio.get_running_loop()
    call: Call | None = None
    while True:
        call = None  # an idle worker holds nothing of its last call (body, reply channel)
        if inbox.empty():
            idle.add(task)  # the supervisor may retire (cancel) it while it waits here
            try:
                call = await inbox.get()
            finally:
                idle.discard(task)
        else:
            idle.discard(task)
            call = inbox.get_nowait()
        if len(idle) < sup.low_idle:
            sup.low_idle = len(idle)
        if call.abandoned:
            sup.release(call)
            continue
        now = loop.time()
        if now >= call.first_token_by:  # its first-token budget ran out in the inbox
            late = QueuedTooLong("the call waited in the provider's queue for its whole "
                                 "first_token_timeout", provider=sup.name)
            sup.record_failure(late, call)
            call.reply.force(late)
            continue
        call.worker = task
        call.started = now
        sup.in_flight += 1
        try:
            await _execute(sup, call)
        except asyncio.CancelledError:
            if call.abandoned and task.uncancel() == 0:
                sup.release(call)
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
    (``asyncio.timeout`` costs about 10 µs a call on this path; this, a third of it).
    Paused while the worker waits for the caller.

    Moving the end later (the headers came: the total deadline now applies) touches no
    timer: when the first one fires early it re-arms itself for the rest, so the usual
    call, answered long before its first-token budget, arms and cancels one timer."""

    __slots__ = ("_armed", "_handle", "_left", "_loop", "expired", "moved", "task", "when")

    def __init__(self, when: float) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.expired = False
        self.moved = False
        self.when = when
        self._left = 0.0
        self._arm()

    def _arm(self) -> None:
        self._armed = self.when
        self._handle = self._loop.call_at(self.when, self._fire)

    def _fire(self) -> None:
        if self.when > self._armed:  # moved later since this timer was armed
            self._arm()
            return
        self.expired = True
        self.task.cancel("time budget")

    def move(self, when: float) -> None:
        """Move the end to ``when``, later than the current end."""
        self.moved = True
        self.when = when

    def pause(self) -> None:
        self._handle.cancel()
        self._left = self.when - self._loop.time()

    def resume(self) -> None:
        self.when = self._loop.time() + self._left
        self._arm()

    def cancel(self) -> None:
        self._handle.cancel()


async def _execute(sup: ProviderSupervisor, call: Call) -> None:
    # first the first-token budget (from when the router sent the call); it moves to the
    # total deadline once the headers (streams: the first content) arrive
    budget = _Budget(call.first_token_by)
    try:
        try:
            await _attempt(sup, call, budget)
        finally:
            budget.cancel()
    except ProxyError as err:
        err.provider = sup.name
        scrub_error(err, sup.secrets)  # stream error events and anything else upstream said
        if isinstance(err, UntranslatableRequest | UntranslatableAnswer):
            log.warning("adapter could not translate", exc_info=err.__cause__, extra={
                "provider": sup.name, "error": err.message, "request_id": call.request_id})
        sup.record_failure(err, call)
        await _last_word(call, err)
        return
    except asyncio.CancelledError:
        if not budget.expired:
            raise
        if budget.task.uncancel() > 0:  # also abandoned or shut down: let worker_loop decide
            raise
        timeout = _timeout(sup, call, budget)
        sup.record_failure(timeout, call)
        await _last_word(call, timeout)
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


def _timeout(sup: ProviderSupervisor, call: Call, budget: _Budget) -> UpstreamTimeout:
    """The error for an expired budget: the upstream's fault unless the queue ate into
    the first-token budget, so that the upstream itself had less than first_token_timeout."""
    if budget.moved or call.first_token_by >= call.deadline:
        return UpstreamTimeout("upstream request exceeded its time budget", provider=sup.name)
    if call.first_token_by - call.started < sup.spec.config.first_token_timeout * 0.99:
        return QueuedTooLong("no first token within first_token_timeout, part of which the "
                             "call spent queued", provider=sup.name)
    return UpstreamTimeout("upstream sent no first token within first_token_timeout",
                           provider=sup.name)


async def _put(call: Call, item: Reply, budget: _Budget) -> None:
    """Hand ``item`` to the caller. Waiting for room stops the budget (the upstream is not
    slow, the caller is) and lasts at most ``call.client_timeout``."""
    reply = call.reply
    if not reply.full():
        reply.put_nowait(item)
        return
    budget.pause()
    try:
        await reply.put(item, call.client_timeout)
    except TimeoutError:
        raise ClientTooSlow(
            f"the client took no data for {call.client_timeout:g} s; the call was ended"
        ) from None
    finally:
        budget.resume()


async def _last_word(call: Call, item: Reply) -> None:
    """Deliver the call's final error: wait a bounded time for room, then make room."""
    try:
        await call.reply.put(item, call.client_timeout)
    except TimeoutError:
        call.reply.force(item)


async def _attempt(sup: ProviderSupervisor, call: Call, budget: _Budget) -> None:
    adapter, config = sup.adapter, sup.spec.config
    if call.op not in adapter.ops:
        raise UnsupportedOperation(
            f"provider type {sup.spec.type!r} does not support {call.op}", provider=sup.name
        )
    if not call.stream:
        # first_token_timeout bounds the wait for the headers; the body has the rest of
        # the total budget (a long generation is not a slow first token)
        resp = await _open(sup, call)
        budget.move(call.deadline)
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
        await _put(call, result, budget)
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
        if first:
            await _put(call, first, budget)
        del first  # the caller has it: held here, it would live as long as the stream
        if ended:  # the whole (short) body came before any content: nothing left to read
            await _put(call, StreamEnd(decoder.done, decoder.usage, decoder.malformed), budget)
        else:
            await _relay(call, resp, decoder, budget)
    finally:
        resp.close()


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
    call: Call, resp: UpstreamResponse, decoder: StreamDecoder, budget: _Budget,
) -> None:
    reply = call.reply
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
                if reply.full():
                    await _put(call, chunks, budget)
                else:
                    reply.put_nowait(chunks)
            del data, chunks  # the caller has them: nothing held while the next read waits
        tail = decoder.close()
    except ProxyError:
        raise
    except Exception as exc:  # the decoder choked on what the upstream sent
        raise _answer_fault(exc) from exc
    if tail:
        await _put(call, tail, budget)
    await _put(call, StreamEnd(decoder.done, decoder.usage, decoder.malformed), budget)

