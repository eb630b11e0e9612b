"""``proxy.hedge.hedged`` in process: who serves, who is cancelled, what is counted —
with stand-in ``send`` and ``rest`` coroutines instead of providers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from proxy.hedge import hedged
from proxy.router import Trace
from proxy.routing import Hop, Route
from supervisors.errors import ProxyError, UpstreamError
from supervisors.messages import Call, Reply, Result

pytestmark = pytest.mark.timeout(10)

ROUTE = Route("alias", (Hop("primary", "m1", hedge_after=0.05), Hop("secondary", "m2")))
ANSWER = Result({"choices": [], "usage": {"total_tokens": 7}})


def _call(name: str = "m1") -> Call:
    return Call("chat", {"model": name}, stream=False, request_id="r", deadline=1e12)


def _send(delay: float, reply: Reply, sent: list[Call]) -> Callable[[Call], Awaitable[Reply]]:
    async def send(call: Call) -> Reply:
        sent.append(call)
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            call.cancel()
            raise
        return reply

    return send


def _rest(delay: float, outcome: Reply | ProxyError, calls: list[Call]
          ) -> Callable[[], Awaitable[tuple[int, Call, Reply]]]:
    async def rest() -> tuple[int, Call, Reply]:
        call = _call("m2")
        calls.append(call)
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            call.cancel()
            raise
        if isinstance(outcome, ProxyError):
            raise outcome
        return 1, call, outcome

    return rest


async def _race(send_delay: float, send_reply: Reply, rest_delay: float,
                rest_outcome: Reply | ProxyError
                ) -> tuple[Reply | tuple[int, Call, Reply], Trace, list[str], Call, list[Call]]:
    outcomes: list[str] = []
    trace, call, sent, rest_calls = Trace(), _call(), [], []
    got = await hedged(_send(send_delay, send_reply, sent), call, ROUTE, 0,
                       _rest(rest_delay, rest_outcome, rest_calls), trace,
                       lambda alias, outcome: outcomes.append(outcome))
    return got, trace, outcomes, call, rest_calls


async def test_an_answer_within_the_window_needs_no_hedge() -> None:
    got, trace, outcomes, call, rest_calls = await _race(0.0, ANSWER, 0.0, ANSWER)
    assert got is ANSWER and outcomes == ["not_needed"] and rest_calls == []
    assert not call.abandoned and trace.reasons == []


async def test_an_error_within_the_window_is_the_callers_to_handle() -> None:
    error = UpstreamError("boom")
    got, _, outcomes, _, rest_calls = await _race(0.0, error, 0.0, ANSWER)
    assert got is error and outcomes == [] and rest_calls == []


async def test_a_slow_call_is_overtaken_and_cancelled() -> None:
    got, trace, outcomes, call, rest_calls = await _race(5.0, ANSWER, 0.01, ANSWER)
    assert isinstance(got, tuple) and got[0] == 1 and got[1] is rest_calls[0]
    assert call.abandoned and not rest_calls[0].abandoned
    assert outcomes == ["won"] and trace.reasons == ["hedge_won"]


async def test_the_hedged_call_serves_when_the_rest_fails() -> None:
    got, trace, outcomes, call, _ = await _race(0.2, ANSWER, 0.0, UpstreamError("down"))
    assert isinstance(got, tuple) and got == (0, call, ANSWER)
    assert not call.abandoned and outcomes == ["lost"]
    assert (trace.provider, trace.model, trace.reasons) == ("primary", "m1", ["hedge_lost"])


async def test_the_hedged_call_serves_when_it_answers_first_and_the_rest_is_cancelled() -> None:
    got, _, outcomes, call, rest_calls = await _race(0.1, ANSWER, 5.0, ANSWER)
    assert isinstance(got, tuple) and got[1] is call
    assert rest_calls[0].abandoned and outcomes == ["lost"]


async def test_both_failing_raise_the_rests_error() -> None:
    with pytest.raises(UpstreamError, match="rest"):
        await _race(0.1, UpstreamError("own"), 0.0, UpstreamError("rest"))


async def test_a_client_that_leaves_cancels_both() -> None:
    trace, call, sent, rest_calls = Trace(), _call(), [], []
    task = asyncio.ensure_future(hedged(
        _send(5.0, ANSWER, sent), call, ROUTE, 0, _rest(5.0, ANSWER, rest_calls), trace,
        lambda alias, outcome: None))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert call.abandoned and rest_calls[0].abandoned


async def test_a_losers_reported_usage_is_kept_for_charging() -> None:
    """Both answer in the same loop turn (the rest finishes right after the hedged call):
    the hedged call serves, and the other's reported usage is charged too."""
    outcomes: list[str] = []
    trace, call = Trace(), _call()
    started, finished = asyncio.Event(), asyncio.Event()
    other = _call("m2")

    async def send(c: Call) -> Reply:
        await started.wait()
        finished.set()
        return ANSWER

    async def rest() -> tuple[int, Call, Reply]:
        started.set()
        await finished.wait()
        return 1, other, Result({"choices": [], "usage": {"total_tokens": 3}})

    got = await hedged(send, call, ROUTE, 0, rest, trace,
                       lambda alias, outcome: outcomes.append(outcome))
    assert isinstance(got, tuple) and got[1] is call and outcomes == ["lost"]
    assert other.abandoned
    assert trace.extra_usage == [("secondary", "m2", {"total_tokens": 3})]
