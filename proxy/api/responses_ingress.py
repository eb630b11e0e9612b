"""The OpenAI Responses front end as an ingress codec on the shared pipeline.

``prepare`` checks the body (``proxy.responses.request``); ``load`` (run by the pipeline
once the client is admitted) reads the stored conversation of ``previous_response_id``
in the client's scope and builds the internal chat request every hop is sent, whatever
its provider (the adapters take it on to Anthropic Messages, Ollama ``/api/chat`` ...).
Answers come back as a ``response`` object (``whole``) or typed events (``encoder``);
with ``store`` the result is queued for storage without delaying the answer.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
from aiohttp import web

from supervisors.errors import InvalidRequest, ProxyError
from supervisors.messages import Chunk, Op, Result

from ..auth import ClientKey, ClientKeyIndex
from ..responses.events import ResponseEvents
from ..responses.items import new_id, to_messages
from ..responses.output import ResponseShell
from ..responses.request import ResponsesRequest, parse_request
from ..responses.state import ResponseState, new_response_id, scope_of
from ..router import HopCall, Trace, hop_body
from ..routing import Hop, Route
from .ingress import Prepared
from .middleware import error_response

__all__ = ["ResponsesIngress"]

IGNORED_TOOLS_HEADER = "x-proxy-ignored-tools"


class _Call:
    """What ``load`` works out for one request, used by ``plan`` and the encoders."""

    __slots__ = ("chat", "request", "scope", "shell")

    def __init__(self, request: ResponsesRequest) -> None:
        self.request = request
        # a stored response's id carries its creation second (see ResponseState); one that
        # is never stored is all random, so asking for it is a 404 at once
        self.shell = ResponseShell(request.echo,
                                   new_response_id() if request.store else new_id("resp"))
        self.scope = ""
        self.chat: dict[str, Any] = {}


class _Stream:
    """Chunk batches → Responses events; the final object is kept when ``store`` is on."""

    __slots__ = ("_call", "_events", "_started", "_state")

    def __init__(self, call: _Call, state: ResponseState) -> None:
        self._call = call
        self._state = state
        self._events = ResponseEvents(call.shell)
        self._started = False

    def batch(self, chunks: list[Chunk], op: Op) -> bytes:
        if self._started:
            return self._events.batch(chunks)
        self._started = True
        return self._events.head() + self._events.batch(chunks)

    def done(self, trace: Trace) -> bytes:
        data = self._events.done(trace.usage)
        self._keep()
        return data

    def error(self, err: ProxyError) -> bytes:
        data = (b"" if self._started else self._events.head()) + self._events.error(err)
        self._started = True
        self._keep()
        return data

    def _keep(self) -> None:
        if self._events.response is not None:
            _keep(self._state, self._call, self._events.response)


def _keep(state: ResponseState, call: _Call, response: dict[str, Any],
          serialised: bytes | None = None) -> None:
    if call.request.store:
        state.keep(response, call.scope, call.request.previous_response_id,
                   call.request.input_items, serialised)


class ResponsesIngress:
    """One per request (it holds the app's ``ResponseState``; a few slots, no I/O)."""

    __slots__ = ("_state",)

    endpoint = "/v1/responses"

    def __init__(self, state: ResponseState) -> None:
        self._state = state

    def authenticate(self, clients: ClientKeyIndex, request: web.Request) -> ClientKey:
        return clients.authenticate(request.headers.get("Authorization"))

    def error_response(self, err: ProxyError, request_id: str) -> web.Response:
        return error_response(err, request_id)

    def prepare(self, body: dict[str, Any]) -> Prepared:
        request = parse_request(body)
        call = _Call(request)
        prepared = Prepared(body, request.model, request.stream, request.fallbacks,
                            request.echo["max_output_tokens"], extra={"call": call})
        prepared.load = partial(self._load, prepared)
        if request.ignored_tools:
            prepared.headers[IGNORED_TOOLS_HEADER] = ",".join(request.ignored_tools)
        return prepared

    async def _load(self, prepared: Prepared, client: ClientKey) -> None:
        call: _Call = prepared.extra["call"]
        request = call.request
        call.scope = scope_of(client)
        history: list[dict[str, Any]] = []
        if request.previous_response_id is not None:
            history = await self._state.conversation(request.previous_response_id, call.scope)
        messages = to_messages([*history, *request.input_items], request.instructions)
        if not any(m["role"] != "system" for m in messages):
            raise InvalidRequest("'input' must hold at least one message or item.",
                                 param="input", code="invalid_value")
        chat = {**request.chat, "model": request.model, "messages": messages}
        if request.stream:
            chat["stream"] = True
            chat["stream_options"] = {"include_usage": True}
        call.chat = chat
        # what the request amounts to, conversation included: the cache keys on it and
        # budgets size it
        prepared.body = chat

    def plan(self, prepared: Prepared, hop: Hop, prefill: str | None = None) -> HopCall:
        call: _Call = prepared.extra["call"]
        body = hop_body(call.chat, hop)
        if prefill:
            body["messages"] = [*body["messages"], {"role": "assistant", "content": prefill}]
            return HopCall("chat", body, prefilled=True)
        return HopCall("chat", body)

    def whole(self, prepared: Prepared, result: Result, op: Op) -> bytes:
        call: _Call = prepared.extra["call"]
        response = call.shell.whole(result.obj)
        payload = orjson.dumps(response)
        _keep(self._state, call, response, payload)
        return payload

    def encoder(self, prepared: Prepared) -> _Stream:
        return _Stream(prepared.extra["call"], self._state)

    def local(self, prepared: Prepared, route: Route) -> bytes | None:
        return None
