"""The ingress codec interface: what one front end (OpenAI chat/completions/embeddings,
Anthropic Messages, OpenAI Responses) tells the shared request pipeline.

A codec owns the edge only: how its clients authenticate, the shape of its errors, how
its request becomes each hop's call (native where the hop's provider speaks the
ingress's own API, translated otherwise), and how upstream answers and chunks become its
own response, incrementally. The pipeline (``proxy.api.pipeline``), the router, limits,
budgets, audit and the supervisors never branch on the ingress.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from supervisors.errors import ProxyError
from supervisors.messages import Chunk, Op, Result

from ..auth import ClientKey, ClientKeyIndex
from ..router import HopCall, Trace
from ..routing import Hop, Route

__all__ = ["Ingress", "Prepared", "StreamEncoder"]


@dataclass(slots=True)
class Prepared:
    """A validated request, in the ingress's own terms, with what the pipeline needs."""

    body: dict[str, Any]
    #: the alias (or ``provider/model``) the client asked for
    model: str
    stream: bool
    #: aliases the client added to its chain (``"fallbacks"``), already removed from body
    fallbacks: list[str] | None = None
    #: the most output tokens the request allows, when it says (budgets)
    max_output_tokens: int | None = None
    #: anything else the codec carries from ``prepare`` to ``plan`` and the encoders
    extra: dict[str, Any] = field(default_factory=dict)
    #: an async step the codec needs once the client is known and admitted, before
    #: routing (e.g. loading a stored conversation); may raise a ``ProxyError``
    load: Callable[[ClientKey], Awaitable[None]] | None = None
    #: response headers the codec adds (e.g. ``x-proxy-ignored-tools``)
    headers: dict[str, str] = field(default_factory=dict)


class StreamEncoder(Protocol):
    """Per-request stream writer state: turns chunk batches into the ingress's SSE bytes."""

    def batch(self, chunks: list[Chunk], op: Op) -> bytes:
        """The bytes for one batch; ``op`` is the operation of the hop that produced it."""
        ...

    def done(self, trace: Trace) -> bytes:
        """The bytes that end a complete stream (e.g. ``data: [DONE]``)."""
        ...

    def error(self, err: ProxyError) -> bytes:
        """The in-band error event that ends a broken stream."""
        ...


class Ingress(Protocol):
    #: the route template, used as the metrics and audit ``endpoint``
    endpoint: str

    def authenticate(self, clients: ClientKeyIndex, request: web.Request) -> ClientKey: ...

    def error_response(self, err: ProxyError, request_id: str) -> web.Response: ...

    def prepare(self, body: dict[str, Any]) -> Prepared:
        """Validate the body (``InvalidRequest`` naming the field) and prepare it."""
        ...

    def plan(self, prepared: Prepared, hop: Hop, prefill: str | None = None) -> HopCall:
        """The call for one hop of the chain (``prefill``: see ``proxy.router.Plan``)."""
        ...

    def whole(self, prepared: Prepared, result: Result, op: Op) -> bytes:
        """The body of a whole (non-streaming) answer."""
        ...

    def encoder(self, prepared: Prepared) -> StreamEncoder: ...

    def local(self, prepared: Prepared, route: Route) -> bytes | None:
        """An answer the codec gives without calling any upstream (e.g. a token count
        estimated here because no hop can count), or ``None`` to route the request."""
        ...
