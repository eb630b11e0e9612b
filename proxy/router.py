"""The router: sends a request down its chain, with retries, fallback and stream resume.

It talks to providers only through messages (``supervisor.submit(call)`` and the call's
reply queue). Retry policy per attempt: a retryable failure is retried on the same
provider with backoff (``supervisors.backoff.retry_delay``); a timeout or a failover-only
failure moves to the next chain entry at once; an error caused by the request itself is
returned to the client untouched. After the first byte of a stream, a break is resumed on
the next chain entry when only text was sent; otherwise the stream ends with an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from supervisors.backoff import retry_delay
from supervisors.circuit import CircuitState
from supervisors.errors import (
    ProxyError,
    QueuedTooLong,
    StreamBroken,
    Unavailable,
    UnsupportedOperation,
    UpstreamConnectError,
    UpstreamTimeout,
)
from supervisors.messages import CLIENT_TIMEOUT, Call, Chunk, Op, Reply, Result, StreamEnd
from supervisors.root import RootSupervisor

from .hedge import HedgeHook, hedged
from .resume import PrefixSkipper, ResumeMismatch, StreamText
from .routing import Hop, Route

if TYPE_CHECKING:
    from .tracing import RequestTracing

__all__ = ["HopCall", "Plan", "Router", "Trace", "hop_body"]

FallbackHook = Callable[[str, str], None]


@dataclass(slots=True)
class HopCall:
    """What one chain entry is asked: the operation and the body in that hop's terms."""

    op: Op
    body: dict[str, Any]
    #: the body carries the text sent so far as an assistant prefill (resume)
    prefilled: bool = False
    #: client headers forwarded to this hop as they are (a native call's API headers)
    headers: Mapping[str, str] | None = None


#: a request's call for each hop, built by its ingress codec; the second argument is the
#: text already sent when a stream is resumed on a hop that supports prefill, else None
Plan = Callable[[Hop, str | None], HopCall]


@dataclass(slots=True)
class Trace:
    """What happened to one request, for headers, metrics and the audit trail."""

    provider: str | None = None
    model: str | None = None
    #: the operation of the hop that is serving (or served) the request
    op: Op | None = None
    attempts: int = 0
    reasons: list[str] = field(default_factory=list)
    resumes: int = 0
    usage: dict[str, Any] | None = None
    malformed: int = 0
    #: usage reported by upstream calls that did not serve (a hedge's loser), as
    #: ``(provider, model, usage)``: charged like the served call's
    extra_usage: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    #: response cache outcome: ``hit`` / ``miss`` / ``bypass``, ``None`` when it is off
    cache: str | None = None
    #: the request's spans when tracing is on (``proxy.tracing``), else None
    tracing: RequestTracing | None = None


def hop_body(body: dict[str, Any], hop: Hop) -> dict[str, Any]:
    out = dict(body)
    for key, value in hop.defaults.items():
        if key not in out:
            out[key] = value
    out["model"] = hop.model
    return out


class Router:
    def __init__(self, root: RootSupervisor, on_fallback: FallbackHook | None = None,
                 on_hedge: HedgeHook | None = None, *,
                 client_timeout: float = CLIENT_TIMEOUT) -> None:
        self._root = root
        self._on_fallback = on_fallback or (lambda alias, reason: None)
        self._on_hedge = on_hedge or (lambda alias, outcome: None)
        #: seconds a worker waits for this process to take a reply (SLOW_CLIENT_TIMEOUT)
        self._client_timeout = client_timeout

    async def unary(self, plan: Plan, route: Route, request_id: str, trace: Trace) -> Result:
        deadline = _deadline(route)
        route = route.ordered(self._load)
        _, call, reply = await self._first(route, 0, False, request_id, trace, deadline, plan)
        assert isinstance(reply, Result)
        if trace.tracing is not None:
            trace.tracing.answer(reply)
        usage = reply.usage or reply.obj.get("usage")
        if isinstance(usage, dict):
            trace.usage = usage
        return reply

    async def stream(
        self, plan: Plan, route: Route, request_id: str, trace: Trace
    ) -> AsyncGenerator[list[Chunk], None]:
        """Yield chunk batches (in the terms of ``trace.op``, the serving hop's operation);
        raise a ``ProxyError`` before the first batch for a normal error response, or after
        it for the in-band error event."""
        deadline = _deadline(route)
        route = route.ordered(self._load)
        index, call, reply = await self._first(route, 0, True, request_id, trace, deadline, plan)
        assert trace.op is not None
        text = StreamText(trace.op)
        skipper: PrefixSkipper | None = None
        try:
            while True:
                broken: ProxyError | None = None
                if isinstance(reply, list):
                    if skipper is not None:
                        try:
                            reply = skipper.filter(reply)
                        except ResumeMismatch:
                            broken = StreamBroken("the resumed answer differs from what was sent")
                            reply = []
                        if skipper.passed:
                            skipper = None
                    if reply:
                        text.track(reply)
                        yield reply
                elif isinstance(reply, StreamEnd):
                    trace.usage = reply.usage or trace.usage
                    trace.malformed += reply.malformed
                    if text.finish is not None or (reply.done and skipper is None):
                        if trace.tracing is not None:
                            trace.tracing.streamed_text(text.value)
                        return
                    broken = StreamBroken("upstream stream ended before it finished")
                elif isinstance(reply, ProxyError):
                    broken = reply
                if broken is not None:
                    call.cancel()
                    if trace.tracing is not None:
                        trace.tracing.failed(call, broken.reason)
                    index, call, reply, skipper = await self._resume(
                        plan, route, index, text, broken, request_id, trace, deadline
                    )
                    continue
                # no timer per batch: the worker answers every call by its deadline
                channel = call.reply
                del reply  # the consumer has it: nothing held while the next one waits
                reply = await channel.get()
                # a consumer that fell behind takes every waiting batch in one go
                while isinstance(reply, list) and isinstance(channel.peek(), list):
                    reply = reply + channel.get_nowait()  # type: ignore[operator]
        finally:
            call.cancel()

    def _load(self, hop: Hop) -> int | None:
        """A group member's calls in flight (queued included), ``None`` while it cannot
        take any (circuit open, provider not running)."""
        sup = self._root.get(hop.provider)
        if sup is None or sup.circuit_state is CircuitState.OPEN:
            return None
        return sup.in_flight + sup.inbox.qsize()

    async def _resume(
        self,
        plan: Plan,
        route: Route,
        index: int,
        text: StreamText,
        broken: ProxyError,
        request_id: str,
        trace: Trace,
        deadline: float,
    ) -> tuple[int, Call, Reply, PrefixSkipper | None]:
        """Continue a broken stream on the next chain entry, or raise the in-band error."""
        hop = route.hops[index]
        trace.reasons.append(broken.reason)
        self._on_fallback(route.alias, broken.reason)
        if not hop.stream_resume or not text.resumable or not broken.failover:
            raise _in_band(broken)
        sent = text.value
        # providers reject a prefill ending in white space (Anthropic does); the
        # continuation then usually starts with it, and is let through if it does not
        head = sent.rstrip()
        prefilled = False

        def resume_call(next_hop: Hop, _: str | None) -> HopCall:
            nonlocal prefilled
            resumed = plan(next_hop, head if next_hop.supports_prefill and head else None)
            prefilled = resumed.prefilled
            return resumed

        start = index + 1
        while start < len(route.hops):
            try:
                index, call, reply = await self._first(
                    route, start, True, request_id, trace, deadline, resume_call
                )
            except ProxyError as err:
                raise _in_band(err) from None
            trace.resumes += 1
            trace.reasons.append("resumed")
            op = call.op
            if prefilled:
                skipper = PrefixSkipper(op, sent[len(head):], lenient=True)
            else:
                skipper = PrefixSkipper(op, sent)
            if isinstance(reply, list):
                try:
                    reply = skipper.filter(reply)
                except ResumeMismatch:
                    call.cancel()
                    trace.reasons.append("resume_mismatch")
                    start = index + 1
                    continue
            return index, call, reply, (None if skipper.passed else skipper)
        raise _in_band(broken)

    async def _first(
        self,
        route: Route,
        start: int,
        stream: bool,
        request_id: str,
        trace: Trace,
        deadline: float,
        plan: Plan,
    ) -> tuple[int, Call, Reply]:
        """Try the chain from ``start`` until a provider answers; the first reply is a
        ``Result`` or a batch of chunks."""
        loop = asyncio.get_running_loop()
        last: ProxyError | None = None
        only_unavailable = True
        for index in range(start, len(route.hops)):
            hop = route.hops[index]
            sup = self._root.get(hop.provider)
            if sup is None:
                err: ProxyError = Unavailable(f"provider {hop.provider!r} is not running")
            else:
                hop_call = plan(hop, None)
                started = loop.time()
                attempt = 0
                while True:
                    attempt += 1
                    trace.attempts += 1
                    now = loop.time()
                    hop_deadline = min(deadline, now + hop.timeout)
                    # the first-token budget counts from now, time queued included
                    call = Call(hop_call.op, hop_call.body, stream=stream,
                                request_id=request_id, deadline=hop_deadline,
                                headers=hop_call.headers,
                                first_token_by=now + sup.spec.config.first_token_timeout,
                                client_timeout=self._client_timeout)
                    if trace.tracing is not None:
                        trace.tracing.attempt(
                            call, provider=hop.provider, provider_type=hop.provider_type,
                            model=hop.model, base_url=sup.spec.base_url,
                            number=trace.attempts,
                            reason=trace.reasons[-1] if trace.reasons else None)
                    if hop.hedge_after is None or index + 1 == len(route.hops):
                        reply = await _send(sup.submit, call)
                    else:
                        raced = await hedged(
                            partial(_send, sup.submit), call, route, index,
                            partial(self._first, route, index + 1, stream, request_id, trace,
                                    deadline, plan),
                            trace, self._on_hedge,
                        )
                        if isinstance(raced, tuple):
                            return raced
                        reply = raced
                    if isinstance(reply, Unavailable) and not call.started:
                        trace.attempts -= 1  # refused before sending (circuit open): not called
                    if isinstance(reply, StreamEnd):
                        reply = StreamBroken("upstream stream ended without content")
                    if not isinstance(reply, ProxyError):
                        trace.provider, trace.model = hop.provider, hop.model
                        trace.op = hop_call.op
                        if trace.tracing is not None:
                            trace.tracing.served(call)
                            if isinstance(reply, list):
                                trace.tracing.first_content(call)
                        return index, call, reply
                    err = reply
                    if attempt == 1 and call.started:
                        started = call.started  # the early window counts from the 1st send
                    if trace.tracing is not None:
                        trace.tracing.failed(call, err.reason)
                    if not err.failover:
                        raise err
                    if not err.retryable:
                        break
                    if err.retry_after is not None and err.retry_after > hop.max_retry_wait:
                        break  # told to come back later: the next entry answers sooner
                    delay = retry_delay(
                        attempt,
                        started=started,
                        now=loop.time(),
                        deadline=hop_deadline,
                        retry_after=err.retry_after,
                        max_retries=hop.max_retries,
                    )
                    if delay is None:
                        break
                    await asyncio.sleep(delay)
            # "this hop cannot do embeddings" must not hide why the others failed
            if not (isinstance(err, UnsupportedOperation) and last is not None):
                # unreachable (refused, reset, DNS) counts as down: all down is a 503
                only_unavailable = only_unavailable and isinstance(
                    err, (Unavailable, UpstreamConnectError))
                last = err
            if index + 1 < len(route.hops):
                trace.reasons.append(err.reason)
                self._on_fallback(route.alias, err.reason)
        if last is None:
            raise Unavailable("no provider is configured for this model", retry_after=1.0)
        if only_unavailable:
            retry = last.retry_after if last.retry_after else 1.0
            raise Unavailable(
                f"no healthy provider for model {route.alias!r}: {last.message}",
                retry_after=max(1.0, retry),
                code=last.code if isinstance(last, Unavailable) else None,
            )
        raise last


async def _send(submit: Callable[[Call], None], call: Call) -> Reply:
    """Submit ``call`` and wait for its first reply. A call still queued when its
    first-token budget runs out is withdrawn (the chain moves on, as after a slow first
    token, and the provider is not charged); one a worker runs is answered by the worker
    by its deadline."""
    try:
        submit(call)
    except ProxyError as err:
        return err
    loop = asyncio.get_running_loop()
    try:
        try:
            return await call.get(call.first_token_by - loop.time())
        except TimeoutError:
            if not call.started:
                call.cancel()
                return QueuedTooLong("the provider was saturated: the call waited in its "
                                     "queue for the whole first_token_timeout")
        return await call.get(call.deadline - loop.time() + 1.0)
    except TimeoutError:
        call.cancel()
        return UpstreamTimeout("provider did not answer in time")
    except asyncio.CancelledError:
        call.cancel()
        raise


def _deadline(route: Route) -> float:
    return asyncio.get_running_loop().time() + route.budget


def _in_band(err: ProxyError) -> ProxyError:
    """An error after the first byte: never a 'stop', always an in-band error event."""
    if isinstance(err, StreamBroken):
        return err
    broken = StreamBroken(f"stream interrupted: {err.message}", code=err.code)
    broken.provider = err.provider
    return broken
