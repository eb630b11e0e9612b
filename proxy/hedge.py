"""Hedged calls: when a chain entry with ``config.hedge_after_ms`` brings no content in
that time, the rest of the chain starts too, and the first to produce content serves.

The loser is cancelled at once (``Call.cancel`` cancels its worker, which closes the
upstream connection). Both count as attempts. The outcome goes to the ``HedgeHook``
(``won``: the rest of the chain served; ``lost``: the hedged call served after all;
``not_needed``: it produced content in time) and, for ``won``/``lost``, into the trace's
reasons (``hedge_won`` / ``hedge_lost``), so the audit record says which one served.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from supervisors.errors import ProxyError
from supervisors.messages import Call, Reply, Result, StreamEnd

from .routing import Hop, Route

if TYPE_CHECKING:
    from .router import Trace

__all__ = ["HedgeHook", "hedged"]

#: ``(alias, outcome)`` with outcome ``won`` / ``lost`` / ``not_needed``
HedgeHook = Callable[[str, str], None]


async def hedged(
    submit: Callable[[Call], None],
    call: Call,
    within: float,
    route: Route,
    index: int,
    rest: Callable[[], Awaitable[tuple[int, Call, Reply]]],
    trace: Trace,
    on_hedge: HedgeHook,
) -> Reply | tuple[int, Call, Reply]:
    """Send ``call`` to hop ``index``; when it brings no content within the hop's
    ``hedge_after``, also run the rest of the chain (``rest``) and take whichever
    produces content first; the other is cancelled.

    Returns the call's own reply when no hedge started (content or an error in time,
    handled by the caller as usual); once it started, the winner as the router's chain
    walk returns it, or the rest's error when neither produced content."""
    hop = route.hops[index]
    hedge_after = hop.hedge_after or 0.0
    try:
        submit(call)
    except ProxyError as err:
        return err
    reply = await _wait(call, min(hedge_after, within))
    if reply is not None:
        if _has_content(reply):
            on_hedge(route.alias, "not_needed")
        return reply
    own = asyncio.ensure_future(_wait(call, max(0.0, within - hedge_after)))
    other = asyncio.ensure_future(rest())
    try:
        await asyncio.wait((own, other), return_when=asyncio.FIRST_COMPLETED)
        if own.done() and _has_content(own.result()):
            if other.done() and other.exception() is None:
                loser = other.result()
                loser[1].cancel()
                _note_loser(route.hops[loser[0]], loser[2], trace)
            return _served_by_own(route, index, call, own.result(), trace, on_hedge)
        if other.done() and other.exception() is None:
            call.cancel()
            if own.done():
                _note_loser(hop, own.result(), trace)
            trace.reasons.append("hedge_won")
            on_hedge(route.alias, "won")
            return other.result()
        if not own.done():  # the rest failed: the hedged call may still answer
            late = await own
            if _has_content(late):
                return _served_by_own(route, index, call, late, trace, on_hedge)
        return await other  # the hedged call failed too: the rest's error
    finally:
        call_done = own.done() and _has_content(own.result())
        if not call_done:
            call.cancel()
        for task in (own, other):
            task.cancel()
        await asyncio.gather(own, other, return_exceptions=True)


def _served_by_own(route: Route, index: int, call: Call, reply: Reply | None, trace: Trace,
                   on_hedge: HedgeHook) -> tuple[int, Call, Reply]:
    assert reply is not None
    hop = route.hops[index]
    trace.provider, trace.model, trace.op = hop.provider, hop.model, call.op
    trace.reasons.append("hedge_lost")
    on_hedge(route.alias, "lost")
    return index, call, reply


def _note_loser(hop: Hop, reply: Reply | None, trace: Trace) -> None:
    """A losing call's usage, when its whole answer arrived anyway, is charged too."""
    if isinstance(reply, Result):
        usage = reply.obj.get("usage")
        if isinstance(usage, dict):
            trace.extra_usage.append((hop.provider, hop.model, usage))


def _has_content(reply: Reply | None) -> bool:
    return reply is not None and not isinstance(reply, ProxyError | StreamEnd)


async def _wait(call: Call, within: float) -> Reply | None:
    """The call's next reply, or ``None`` when none came within ``within`` seconds."""
    try:
        return await call.get(within)
    except TimeoutError:
        return None
