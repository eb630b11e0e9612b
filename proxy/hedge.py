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
    send: Callable[[Call], Awaitable[Reply]],
    call: Call,
    route: Route,
    index: int,
    rest: Callable[[], Awaitable[tuple[int, Call, Reply]]],
    trace: Trace,
    on_hedge: HedgeHook,
) -> Reply | tuple[int, Call, Reply]:
    """Send ``call`` to hop ``index`` (``send``: submit and wait for its first reply, as
    for any call); when it brings no content within the hop's ``hedge_after``, also run
    the rest of the chain (``rest``) and take whichever produces content first; the
    other is cancelled.

    Returns the call's own reply when no hedge started (content or an error in time,
    handled by the caller as usual); once it started, the winner as the router's chain
    walk returns it, or the rest's error when neither produced content."""
    hop = route.hops[index]
    own = asyncio.ensure_future(send(call))
    other: asyncio.Future[tuple[int, Call, Reply]] | None = None
    try:
        await asyncio.wait((own,), timeout=hop.hedge_after)
        if own.done():
            reply = own.result()
            if _has_content(reply):
                on_hedge(route.alias, "not_needed")
            return reply
        other = asyncio.ensure_future(rest())
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
        # cancelling ``send`` cancels its call; a call that served is left running
        for task in (own, other):
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(*(t for t in (own, other) if t is not None),
                             return_exceptions=True)


def _served_by_own(route: Route, index: int, call: Call, reply: Reply, trace: Trace,
                   on_hedge: HedgeHook) -> tuple[int, Call, Reply]:
    hop = route.hops[index]
    trace.provider, trace.model, trace.op = hop.provider, hop.model, call.op
    if trace.tracing is not None:
        trace.tracing.served(call)
        if isinstance(reply, list):
            trace.tracing.first_content(call)
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
