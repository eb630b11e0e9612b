"""Messages between the front end and provider actors.

A :class:`Call` is put into a provider's inbox. The worker that takes it answers on the
call's bounded reply queue with, in order:

* non-stream: one :class:`Result` or one ``ProxyError``;
* stream: zero or more ``list[Chunk]`` batches (one per upstream read), then
  :class:`StreamEnd` or a ``ProxyError``.

The caller that goes away calls :meth:`Call.cancel`, which cancels the upstream request
the worker is running for it; the worker then takes the next message.

Time: ``first_token_by`` (absolute ``loop.time()``) is set by the router when it sends
the call, so time spent queued in the inbox counts against ``first_token_timeout``;
``deadline`` bounds the whole call. ``client_timeout`` bounds each wait for the caller
to take a reply (a caller that reads nothing for that long is treated as gone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .channel import Channel
from .circuit import Ticket
from .errors import ProxyError

__all__ = ["CLIENT_TIMEOUT", "Call", "Chunk", "Op", "Reply", "Result", "StreamEnd"]

#: default seconds a worker waits for the caller to take a reply before ending the call
CLIENT_TIMEOUT = 30.0

#: ``messages`` and ``count_tokens`` are Anthropic's own API, served natively by the
#: ``anthropic`` provider type only (body and answer relayed as they are)
Op = Literal["chat", "completions", "embeddings", "messages", "count_tokens"]


@dataclass(slots=True)
class Chunk:
    """One OpenAI ``chat.completion.chunk`` / ``text_completion`` object.

    ``raw`` is the exact JSON payload when the object can be relayed unchanged.
    """

    obj: dict[str, Any]
    raw: bytes | None = None


@dataclass(slots=True)
class Result:
    obj: dict[str, Any]
    raw: bytes | None = None
    #: OpenAI-shaped usage, when ``obj`` reports it in another shape (a native answer)
    usage: dict[str, Any] | None = None


@dataclass(slots=True)
class StreamEnd:
    #: the upstream sent its terminal marker ([DONE], message_stop, done: true)
    done: bool
    usage: dict[str, Any] | None = None
    malformed: int = 0


Reply = Result | list[Chunk] | StreamEnd | ProxyError


class Call:
    __slots__ = (
        "abandoned",
        "body",
        "client_timeout",
        "deadline",
        "headers",
        "first_token_by",
        "op",
        "reply",
        "request_id",
        "started",
        "stream",
        "ticket",
        "worker",
    )

    def __init__(
        self,
        op: Op,
        body: dict[str, Any],
        *,
        stream: bool,
        request_id: str,
        deadline: float,
        first_token_by: float | None = None,
        client_timeout: float = CLIENT_TIMEOUT,
        reply_size: int = 64,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.op = op
        self.body = body
        self.stream = stream
        self.request_id = request_id
        #: client headers forwarded upstream as they are (``anthropic-version`` and
        #: ``anthropic-beta`` of a native Messages call), over what the adapter built
        self.headers = headers
        #: absolute ``loop.time()`` by which the whole request must be done
        self.deadline = deadline
        #: absolute ``loop.time()`` by which the response headers (and, for streams, the
        #: first content chunk) must have come; counted from when the router sent the call
        self.first_token_by = deadline if first_token_by is None else min(first_token_by,
                                                                          deadline)
        #: seconds the worker waits for room in the reply queue before giving up on the
        #: caller (it stopped reading)
        self.client_timeout = client_timeout
        #: the circuit breaker's admission (set by the provider when it accepts the call)
        self.ticket: Ticket | None = None
        self.reply: Channel[Reply] = Channel(reply_size)
        self.worker: asyncio.Task[Any] | None = None
        self.abandoned = False
        #: ``loop.time()`` when a worker picked the call up
        self.started = 0.0

    def cancel(self) -> None:
        """The caller is gone: stop the upstream request now and drop any reply."""
        if self.abandoned:
            return
        self.abandoned = True
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.cancel("call abandoned")

    async def get(self, within: float | None = None) -> Reply:
        """The next reply, waiting at most ``within`` seconds (TimeoutError after)."""
        return await self.reply.get(within)
