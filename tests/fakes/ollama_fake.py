"""Fake Ollama native API: ``/api/chat`` (NDJSON stream by default), ``/api/embed``,
``/api/embeddings`` (legacy), ``/api/tags``, ``/api/version``. Errors ``{"error": "..."}``.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .content import Answer, Conversation, Role, Turn, answer_for, embedding, word_count
from .state import STATE
from .wire import (
    BODY,
    FAULT,
    INVALID_JSON,
    Dialect,
    Frame,
    dumps,
    json_response,
    send_stream,
)

__all__ = ["DIALECT"]

DEFAULT_MODELS = ("llama3.2:latest", "nomic-embed-text:latest")
_ROLES: dict[str, Role] = {"system": "system", "user": "user", "assistant": "assistant",
                           "tool": "tool"}


def _error(status: int, message: str | None = None, *, code: str | None = None,
           body: Any = None, retry_after: float | None = None) -> web.Response:
    if body is None:
        body = {"error": message or code or f"fake upstream error {status}"}
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return json_response(body, status=status, headers=headers)


def _api_key(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else None


def _check_auth(request: web.Request, keys: frozenset[str] | None) -> web.Response | None:
    if keys is not None and _api_key(request) not in keys:
        return _error(401, "unauthorized")
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _body_and_model(request: web.Request) -> dict[str, Any] | web.Response:
    body = request[BODY]
    if body is INVALID_JSON or not isinstance(body, dict):
        return _error(400, "invalid character in request body: not valid JSON")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return _error(400, "model is required")
    allowed = request.app[STATE].models
    if allowed is not None and model not in allowed and f"{model}:latest" not in allowed:
        return _error(404, f"model '{model}' not found")
    return body


def _conversation(body: dict[str, Any]) -> Conversation | str:
    messages = body.get("messages") or []
    if not isinstance(messages, list):
        return "messages must be an array"
    turns = []
    for msg in messages:
        if not isinstance(msg, dict) or msg.get("role") not in _ROLES:
            return f"invalid role: {msg.get('role') if isinstance(msg, dict) else msg!r}"
        turns.append(Turn(_ROLES[msg["role"]], str(msg.get("content") or "")))
    options = body.get("options")
    options = options if isinstance(options, dict) else {}
    raw_stop = options.get("stop")
    stop = [raw_stop] if isinstance(raw_stop, str) else [
        s for s in raw_stop if isinstance(s, str)] if isinstance(raw_stop, list) else []
    num_predict = options.get("num_predict")
    limit = num_predict if isinstance(num_predict, int) and num_predict >= 0 else None
    tools = [t["function"]["name"] for t in body.get("tools") or []
             if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    return Conversation(turns, tools, limit, tuple(stop))


def _timings(answer: Answer, started: float) -> dict[str, int]:
    total = int((time.perf_counter() - started) * 1e9) + 1
    return {"total_duration": total, "load_duration": total // 10,
            "prompt_eval_count": answer.prompt_tokens, "prompt_eval_duration": total // 5,
            "eval_count": answer.completion_tokens, "eval_duration": total // 2}


def _done_reason(answer: Answer) -> str:
    return "length" if answer.finish == "length" else "stop"


async def _chat(request: web.Request) -> web.StreamResponse:
    started = time.perf_counter()
    body = _body_and_model(request)
    if isinstance(body, web.Response):
        return body
    conv = _conversation(body)
    if isinstance(conv, str):
        return _error(400, conv)
    answer = answer_for(conv)
    fault = request[FAULT]
    if fault.oversized_bytes is not None:
        answer = answer.oversized(fault.oversized_bytes)
    model = body["model"]
    message: dict[str, Any] = {"role": "assistant", "content": answer.text}
    if answer.tool_name is not None:
        message["tool_calls"] = [{"function": {"name": answer.tool_name,
                                               "arguments": answer.tool_arguments}}]
    if body.get("stream") is False:
        return json_response({"model": model, "created_at": _now(), "message": message,
                              "done_reason": _done_reason(answer), "done": True,
                              **_timings(answer, started)})
    frames: list[Frame] = []
    if answer.tool_name is not None:
        frames.append(Frame(_line({"model": model, "created_at": _now(), "message": message,
                                   "done": False}), content=True))
    for tok in answer.tokens:
        frames.append(Frame(_line({"model": model, "created_at": _now(),
                                   "message": {"role": "assistant", "content": tok},
                                   "done": False}), content=True))
    frames.append(Frame(_line({"model": model, "created_at": _now(),
                               "message": {"role": "assistant", "content": ""},
                               "done_reason": _done_reason(answer), "done": True,
                               **_timings(answer, started)}), final=True))
    return await send_stream(request, frames, content_type="application/x-ndjson", headers={},
                             malformed=b"{not json\n",
                             error_frame=_line({"error": "an error was encountered while running the model"}))


def _line(obj: Any) -> bytes:
    return dumps(obj) + b"\n"


async def _embed(request: web.Request) -> web.Response:
    body = _body_and_model(request)
    if isinstance(body, web.Response):
        return body
    raw = body.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return _error(400, "invalid input type")
    dims = body.get("dimensions") or 8
    return json_response({"model": body["model"], "embeddings": [embedding(t, dims) for t in texts],
                          "total_duration": 1000, "load_duration": 100,
                          "prompt_eval_count": word_count(texts)})


async def _embeddings_legacy(request: web.Request) -> web.Response:
    body = _body_and_model(request)
    if isinstance(body, web.Response):
        return body
    return json_response({"embedding": embedding(str(body.get("prompt") or ""))})


async def _tags(request: web.Request) -> web.Response:
    names = request.app[STATE].models or DEFAULT_MODELS
    models = [{"name": m, "model": m, "modified_at": "2025-01-01T00:00:00.000000000Z",
               "size": 2019393189, "digest": hashlib.sha256(m.encode()).hexdigest(),
               "details": {"parent_model": "", "format": "gguf", "family": "llama",
                           "families": ["llama"], "parameter_size": "3.2B",
                           "quantization_level": "Q4_K_M"}} for m in names]
    return json_response({"models": models})


async def _version(request: web.Request) -> web.Response:
    return json_response({"version": "0.12.0"})


async def _root(request: web.Request) -> web.Response:
    return web.Response(text="Ollama is running")


DIALECT = Dialect(
    kind="ollama",
    routes=(
        web.post("/api/chat", _chat),
        web.post("/api/embed", _embed),
        web.post("/api/embeddings", _embeddings_legacy),
        web.get("/api/tags", _tags),
        web.get("/api/version", _version),
        web.get("/", _root),
    ),
    api_key=_api_key,
    check_auth=_check_auth,
    error=_error,
)
