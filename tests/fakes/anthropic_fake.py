"""Fake Anthropic Messages API (``POST /v1/messages``), strict like the real one.

Streams carry the full real event sequence: ``message_start``,
``content_block_start``, ``ping``, ``content_block_delta`` (``text_delta`` or
``input_json_delta``), ``content_block_stop``, ``message_delta``, ``message_stop``.
Errors are ``{"type": "error", "error": {"type", "message"}, "request_id"}``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .anthropic_requests import conversation_from_messages, validate_messages_request
from .content import Answer, answer_for, fragments
from .state import STATE
from .wire import (
    BODY,
    FAULT,
    INVALID_JSON,
    Dialect,
    Frame,
    dumps,
    json_response,
    new_id,
    send_stream,
)

__all__ = ["DIALECT"]

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
          403: "permission_error", 404: "not_found_error", 413: "request_too_large",
          429: "rate_limit_error", 504: "timeout_error", 529: "overloaded_error"}
_MESSAGES = {"authentication_error": "invalid x-api-key", "rate_limit_error": "Rate limited",
             "overloaded_error": "Overloaded", "api_error": "Internal server error"}
_CODE_MESSAGES = {
    "context_length_exceeded": "prompt is too long: 250000 tokens > 200000 maximum",
    "content_policy_violation": "Output blocked by content filtering policy",
}
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
         "stop_sequence": "stop_sequence"}


def _request_id() -> str:
    return new_id("req_011", 24)


def _error(status: int, message: str | None = None, *, code: str | None = None,
           body: Any = None, retry_after: float | None = None) -> web.Response:
    rid = _request_id()
    if body is None:
        err_type = _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        text = message or _CODE_MESSAGES.get(code or "") or _MESSAGES.get(err_type) \
            or f"Fake upstream error {status}"
        body = {"type": "error", "error": {"type": err_type, "message": text}, "request_id": rid}
    headers = {"request-id": rid}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    return json_response(body, status=status, headers=headers)


def _api_key(request: web.Request) -> str | None:
    """``x-api-key``; newer SDKs (anthropic>=2) send ``Authorization: Bearer`` instead."""
    if key := request.headers.get("x-api-key"):
        return key
    auth = request.headers.get("Authorization", "")
    return auth[len("Bearer "):].strip() or None if auth.startswith("Bearer ") else None


def _check_auth(request: web.Request, keys: frozenset[str] | None) -> web.Response | None:
    key = _api_key(request)
    if not key:
        return _error(401, "x-api-key header is required")  # the real API's wording
    if keys is not None and key not in keys:
        return _error(401, "invalid x-api-key")
    if not request.headers.get("anthropic-version"):
        return _error(400, "anthropic-version: header is required")
    return None


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps(data) + b"\n\n"


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0, "output_tokens": output_tokens,
            "service_tier": "standard"}


#: with ``thinking`` enabled, answers start with this block (signature included)
THINKING = "Let me think about that."
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds=="
#: ``cache_read_input_tokens`` reported when the system prompt carries cache_control
CACHED_TOKENS = 1200


def _thinks(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _cached(body: dict[str, Any]) -> int:
    system = body.get("system")
    marked = isinstance(system, list) and any(
        isinstance(b, dict) and b.get("cache_control") for b in system)
    return CACHED_TOKENS if marked else 0


def _content(answer: Answer, tool_id: str, thinks: bool = False) -> list[dict[str, Any]]:
    head = [{"type": "thinking", "thinking": THINKING, "signature": SIGNATURE}] if thinks else []
    if answer.tool_name is not None:
        return head + [{"type": "tool_use", "id": tool_id, "name": answer.tool_name,
                        "input": answer.tool_arguments}]
    return head + [{"type": "text", "text": answer.text}]


def _thinking_frames() -> list[Frame]:
    block = {"type": "thinking", "thinking": "", "signature": ""}
    deltas = [{"type": "thinking_delta", "thinking": THINKING},
              {"type": "signature_delta", "signature": SIGNATURE}]
    return [Frame(_event("content_block_start",
                         {"type": "content_block_start", "index": 0, "content_block": block})),
            *[Frame(_event("content_block_delta",
                           {"type": "content_block_delta", "index": 0, "delta": d}))
              for d in deltas],
            Frame(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))]


def _frames(message: dict[str, Any], answer: Answer, tool_id: str) -> list[Frame]:
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**usage, "output_tokens": 1}}
    frames = [Frame(_event("message_start", {"type": "message_start", "message": start}))]
    thinks = bool(message["content"]) and message["content"][0]["type"] == "thinking"
    index = 1 if thinks else 0
    if thinks:
        frames += _thinking_frames()
    if answer.tool_name is not None:
        block = {"type": "tool_use", "id": tool_id, "name": answer.tool_name, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": ""}] + [
            {"type": "input_json_delta", "partial_json": f} for f in fragments(answer.tool_json)]
    else:
        block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": tok} for tok in answer.tokens]
    frames.append(Frame(_event("content_block_start", {
        "type": "content_block_start", "index": index, "content_block": block})))
    frames.append(Frame(_event("ping", {"type": "ping"})))
    frames += [Frame(_event("content_block_delta",
                            {"type": "content_block_delta", "index": index, "delta": d}),
                     content=bool(d.get("text") or d.get("partial_json"))) for d in deltas]
    frames.append(Frame(_event("content_block_stop",
                               {"type": "content_block_stop", "index": index})))
    frames.append(Frame(_event("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]},
        "usage": {**usage, "output_tokens": answer.completion_tokens}})))
    frames.append(Frame(_event("message_stop", {"type": "message_stop"}), final=True))
    return frames


_MALFORMED = b"event: content_block_delta\ndata: {not json\n\n"
_ERROR_FRAME = _event("error", {"type": "error", "error": {"type": "overloaded_error",
                                                          "message": "Overloaded"}})


async def _messages(request: web.Request) -> web.StreamResponse:
    body = request[BODY]
    if body is INVALID_JSON or not isinstance(body, dict):
        return _error(400, "There was an error parsing the body of your request: invalid JSON")
    problem = validate_messages_request(body)
    if problem is not None:
        return _error(400, problem)
    allowed = request.app[STATE].models
    if allowed is not None and body["model"] not in allowed:
        return _error(404, f"model: {body['model']}")
    answer = answer_for(conversation_from_messages(body))
    fault = request[FAULT]
    if fault.oversized_bytes is not None:
        answer = answer.oversized(fault.oversized_bytes)
    tool_id = new_id("toolu_01", 22)
    message = {
        "id": new_id("msg_01", 22), "type": "message", "role": "assistant",
        "model": body["model"], "content": _content(answer, tool_id, _thinks(body)),
        "stop_reason": _STOP[answer.finish], "stop_sequence": answer.stop_sequence,
        "usage": {**_usage(answer.prompt_tokens, answer.completion_tokens),
                  "cache_read_input_tokens": _cached(body)},
    }
    headers = {"request-id": _request_id()}
    if not body.get("stream"):
        return json_response(message, headers=headers)
    return await send_stream(
        request, _frames(message, answer, tool_id),
        content_type="text/event-stream; charset=utf-8", headers=headers,
        malformed=_MALFORMED, error_frame=_ERROR_FRAME,
    )


async def _count_tokens(request: web.Request) -> web.Response:
    body = request[BODY]
    if body is INVALID_JSON or not isinstance(body, dict):
        return _error(400, "There was an error parsing the body of your request: invalid JSON")
    problem = validate_messages_request({**body, "max_tokens": 1}, count=True)
    if problem is not None:
        return _error(400, problem)
    conversation = conversation_from_messages({**body, "max_tokens": 1})
    return json_response({"input_tokens": max(1, answer_for(conversation).prompt_tokens)},
                         headers={"request-id": _request_id()})


async def _models(request: web.Request) -> web.Response:
    names = request.app[STATE].models or ("claude-sonnet-4-5", "claude-haiku-4-5")
    data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in names]
    return json_response({"data": data, "has_more": False, "first_id": names[0],
                          "last_id": names[-1]}, headers={"request-id": _request_id()})


DIALECT = Dialect(
    kind="anthropic",
    routes=(web.post("/v1/messages", _messages),
            web.post("/v1/messages/count_tokens", _count_tokens),
            web.get("/v1/models", _models)),
    api_key=_api_key,
    check_auth=_check_auth,
    error=_error,
)
