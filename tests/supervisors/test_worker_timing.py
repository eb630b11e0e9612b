"""The worker's time budget, with a scripted upstream (no sockets): first_token_timeout
bounds the headers of a whole answer (counted from when the call was sent, queue
included), timeout the whole call; time spent waiting for a slow caller is not the
upstream's, and such a caller is given up on after client_timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest

from supervisors.adapters.base import UpstreamRequest
from supervisors.errors import ClientTooSlow, QueuedTooLong, UpstreamTimeout
from supervisors.messages import Call, Result, StreamEnd
from supervisors.provider import ProviderSupervisor
from supervisors.spec import ProviderConfig, ProviderSpec
from tests.supervisors.observer import CountingObserver

pytestmark = pytest.mark.timeout(10)

ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                       "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _event(i: int) -> bytes:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
             "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}]}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


class _Response:
    def __init__(self, body_delay: float, body: bytes, events: int) -> None:
        self.status = 200
        self.headers: Mapping[str, str] = {}
        self._body_delay, self._body = body_delay, body
        self._events = iter(range(events))
        self.closed = False

    async def read(self, limit: int) -> bytes:
        await asyncio.sleep(self._body_delay)
        return self._body

    async def readany(self) -> bytes:
        i = next(self._events, None)
        return b"" if i is None else _event(i)

    def close(self) -> None:
        self.closed = True


class _Transport:
    """Headers after ``header_delay``; a whole body ``body_delay`` later, or ``events``
    stream events as fast as they are read."""

    def __init__(self, header_delay: float = 0.0, body_delay: float = 0.0,
                 events: int = 0) -> None:
        self.header_delay, self.body_delay, self.events = header_delay, body_delay, events
        self.sent = 0
        self.responses: list[_Response] = []

    async def send(self, req: UpstreamRequest, *, connect_timeout: float,
                   idle_timeout: float | None) -> _Response:
        self.sent += 1
        await asyncio.sleep(self.header_delay)
        resp = _Response(self.body_delay, orjson.dumps(ANSWER), self.events)
        self.responses.append(resp)
        return resp


@asynccontextmanager
async def _provider(transport: _Transport, **config: Any) -> AsyncIterator[ProviderSupervisor]:
    spec = ProviderSpec(1, "p", "openai", "http://upstream.invalid/v1",
                        ProviderConfig.from_dict({"failure_threshold": 1, **config}),
                        keys=((1, "k", "sk-test-key-00000001"),))
    sup = ProviderSupervisor(spec, transport, CountingObserver())  # type: ignore[arg-type]
    task = asyncio.create_task(sup.run())
    await asyncio.sleep(0)
    try:
        yield sup
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _call(sup: ProviderSupervisor, *, stream: bool = False, queued_for: float = 0.0,
          reply_size: int = 64, client_timeout: float = 30.0) -> Call:
    """A call as the router sends it; ``queued_for``: sent that long ago."""
    config = sup.spec.config
    now = asyncio.get_running_loop().time() - queued_for
    return Call("chat", {"model": "m", "messages": [{"role": "user", "content": "x"}]},
                stream=stream, request_id="r", deadline=now + config.timeout,
                first_token_by=now + config.first_token_timeout, reply_size=reply_size,
                client_timeout=client_timeout)


async def _first(sup: ProviderSupervisor, call: Call) -> Any:
    sup.submit(call)
    return await call.get(5.0)


async def test_a_whole_answer_may_take_longer_than_first_token_timeout() -> None:
    transport = _Transport(header_delay=0.05, body_delay=0.4)
    async with _provider(transport, first_token_timeout=0.2, timeout=5) as sup:
        reply = await _first(sup, _call(sup))
        assert isinstance(reply, Result) and reply.obj["choices"][0]["message"]["content"] == "hi"
        assert sup.breaker.snapshot()["consecutive_failures"] == 0


async def test_headers_later_than_first_token_timeout_are_an_upstream_timeout() -> None:
    async with _provider(_Transport(header_delay=0.5), first_token_timeout=0.2) as sup:
        reply = await _first(sup, _call(sup))
        assert type(reply) is UpstreamTimeout and "first token" in reply.message
        assert sup.breaker.snapshot()["state"] == "open"  # threshold 1: the upstream's fault


async def test_timeout_bounds_the_whole_answer() -> None:
    transport = _Transport(header_delay=0.05, body_delay=1.0)
    async with _provider(transport, first_token_timeout=0.2, timeout=0.5) as sup:
        reply = await _first(sup, _call(sup))
        assert type(reply) is UpstreamTimeout and "time budget" in reply.message


async def test_a_call_whose_budget_ran_out_in_the_queue_is_not_sent() -> None:
    transport = _Transport()
    async with _provider(transport, first_token_timeout=0.2) as sup:
        reply = await _first(sup, _call(sup, queued_for=0.3))
        assert isinstance(reply, QueuedTooLong) and not reply.provider_fault
        assert transport.sent == 0
        assert sup.breaker.snapshot()["state"] == "closed"


async def test_queue_time_that_leaves_the_upstream_too_little_is_not_its_fault() -> None:
    # sent 0.8 s ago with a 1 s first-token budget: the upstream gets 0.2 s of it
    async with _provider(_Transport(header_delay=0.5), first_token_timeout=1.0) as sup:
        reply = await _first(sup, _call(sup, queued_for=0.8))
        assert isinstance(reply, QueuedTooLong) and reply.failover
        snapshot = sup.breaker.snapshot()
        assert snapshot["state"] == "closed" and snapshot["consecutive_failures"] == 0


async def test_a_caller_that_takes_nothing_is_given_up_on_and_never_blamed_on_the_upstream(
) -> None:
    transport = _Transport(events=500)
    # the total budget (0.2 s) is shorter than the wait for the caller (0.4 s): that wait
    # does not count, so the call ends as the caller's, not as an upstream timeout
    async with _provider(transport, timeout=0.2, first_token_timeout=0.2) as sup:
        call = _call(sup, stream=True, reply_size=4, client_timeout=0.4)
        sup.submit(call)
        loop = asyncio.get_running_loop()
        started = loop.time()
        while sup.in_flight or not transport.responses:  # nobody reads the replies
            assert loop.time() - started < 3
            await asyncio.sleep(0.02)
        assert loop.time() - started >= 0.35
        replies = []
        while call.reply.qsize():
            replies.append(call.reply.get_nowait())
        assert isinstance(replies[-1], ClientTooSlow)
        assert not any(isinstance(r, UpstreamTimeout | StreamEnd) for r in replies)
        assert transport.responses[0].closed
        snapshot = sup.breaker.snapshot()
        assert snapshot["state"] == "closed" and snapshot["consecutive_failures"] == 0
