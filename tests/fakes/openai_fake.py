"""Fake OpenAI API: chat completions, legacy completions, embeddings, models.

Wire format as api.openai.com sends it: ``chatcmpl-`` ids, ``created``, ``object``,
``system_fingerprint``, SSE ``data:`` chunks ending ``data: [DONE]``, errors as
``{"error": {"message", "type", "param", "code"}}`` with ``x-request-id``.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .content import Answer, answer_for, embedding, embedding_base64, fragments, word_count
from .openai_requests import (
    DEFAULT_MODELS,
    conversation_from_chat,
    prompt_texts,
    validate_chat,
)
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

FINGERPRINT = "fp_fake0001"
_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool_calls": "tool_calls"}
_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "invalid_request_error",
          404: "invalid_request_error", 409: "invalid_request_error", 429: "requests"}


def _headers() -> dict[str, str]:
    return {
        "x-request-id": new_id("req_", 32),
        "openai-version": "2020-10-01",
        "openai-organization": "fake-org",
        "openai-processing-ms": "1",
    }


def _error(status: int, message: str | None = None, *, code: str | None = None,
           body: Any = None, retry_after: float | None = None, param: str | None = None,
           ) -> web.Response:
    if body is None:
        if code == "context_length_exceeded" and message is None:
            message = "This model's maximum context length is 8192 tokens. Please reduce the length of the messages."
            param = param or "messages"
        if code == "rate_limit_exceeded" or (status == 429 and code is None):
            code = "rate_limit_exceeded"
        body = {"error": {
            "message": message or f"Fake upstream error {status}",
            "type": _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            "param": param,
            "code": code,
        }}
    headers = _headers()
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
        headers["retry-after-ms"] = str(int(retry_after * 1000))
    return json_response(body, status=status, headers=headers)


def _api_key(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else None


def _check_auth(request: web.Request, keys: frozenset[str] | None) -> web.Response | None:
    if keys is None:
        return None
    key = _api_key(request)
    if not key:
        return _error(401, "You didn't provide an API key. You need to provide your API key in "
                      "an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
    if key not in keys:
        shown = key[:3] + "*" * 4 + key[-4:] if len(key) > 8 else "****"
        return _error(401, f"Incorrect API key provided: {shown}. You can find your API key at "
                      "https://platform.openai.com/account/api-keys.", code="invalid_api_key")
    return None


def _body(request: web.Request) -> dict[str, Any] | web.Response:
    body = request[BODY]
    if body is INVALID_JSON or not isinstance(body, dict):
        return _error(400, "We could not parse the JSON body of your request. (HINT: This likely "
                      "means you aren't using your HTTP library correctly. The OpenAI API expects "
                      "a JSON payload, but what was sent was not valid JSON.")
    return body


def _model_error(request: web.Request, model: str) -> web.Response | None:
    allowed = request.app[STATE].models
    if allowed is not None and model not in allowed:
        return _error(404, f"The model `{model}` does not exist or you do not have access to it.",
                      code="model_not_found")
    return None


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def _sse(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


_DONE = Frame(b"data: [DONE]\n\n", final=True)
_MALFORMED = b"data: {not json\n\n"


def _error_frame() -> bytes:
    return _sse({"error": {"message": "The server had an error while processing your request.",
                           "type": "server_error", "param": None, "code": None}})


def _message(answer: Answer, tool_id: str) -> dict[str, Any]:
    if answer.tool_name is not None:
        return {"role": "assistant", "content": None, "refusal": None, "annotations": [],
                "tool_calls": [{"id": tool_id, "type": "function", "function": {
                    "name": answer.tool_name, "arguments": answer.tool_json}}]}
    return {"role": "assistant", "content": answer.text, "refusal": None, "annotations": []}


def _chat_deltas(answer: Answer) -> list[tuple[dict[str, Any], bool]]:
    """(delta, is_content) pairs of one choice, before its finish chunk."""
    if answer.tool_name is not None:
        call = {"index": 0, "id": new_id("call_"), "type": "function",
                "function": {"name": answer.tool_name, "arguments": ""}}
        out = [({"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}, False)]
        out += [({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}, True)
                for f in fragments(answer.tool_json)]
        return out
    out = [({"role": "assistant", "content": "", "refusal": None}, False)]
    return out + [({"content": tok}, True) for tok in answer.tokens]


async def _chat(request: web.Request) -> web.StreamResponse:
    body = _body(request)
    if isinstance(body, web.Response):
        return body
    problem = validate_chat(body)
    if problem is not None:
        return _error(400, problem.message, code=problem.code, param=problem.param)
    if (err := _model_error(request, body["model"])) is not None:
        return err
    answer = answer_for(conversation_from_chat(body))
    fault = request[FAULT]
    if fault.oversized_bytes is not None:
        answer = answer.oversized(fault.oversized_bytes)
    if fault.token_bytes:
        answer = answer.padded(fault.token_bytes)
    n = int(body.get("n") or 1)
    base = {"id": new_id("chatcmpl-", 29), "created": int(time.time()),
            "model": body["model"], "service_tier": "default", "system_fingerprint": FINGERPRINT}
    usage = _usage(answer.prompt_tokens, answer.completion_tokens * n)
    finish = _FINISH[answer.finish]
    if not body.get("stream"):
        choices = [{"index": i, "message": _message(answer, new_id("call_")),
                    "logprobs": None, "finish_reason": finish} for i in range(n)]
        return json_response({**base, "object": "chat.completion", "choices": choices,
                              "usage": usage}, headers=_headers())
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    extra = {"usage": None} if include_usage else {}
    frames: list[Frame] = []
    for i in range(n):
        for delta, is_content in [*_chat_deltas(answer), ({}, False)]:
            choice = {"index": i, "delta": delta, "logprobs": None,
                      "finish_reason": None if delta else finish}
            frames.append(Frame(_sse({**base, "object": "chat.completion.chunk",
                                      "choices": [choice], **extra}), content=is_content))
    if include_usage:
        frames.append(Frame(_sse({**base, "object": "chat.completion.chunk", "choices": [],
                                  "usage": usage})))
    frames.append(_DONE)
    return await send_stream(request, frames, content_type="text/event-stream; charset=utf-8",
                             headers=_headers(), malformed=_MALFORMED, error_frame=_error_frame())


async def _completions(request: web.Request) -> web.StreamResponse:
    body = _body(request)
    if isinstance(body, web.Response):
        return body
    prompts = prompt_texts(body)
    if isinstance(prompts, str):
        return _error(400, prompts, param="prompt")
    if not isinstance(body.get("model"), str):
        return _error(400, "you must provide a model parameter")
    if (err := _model_error(request, body["model"])) is not None:
        return err
    conv_answers = [answer_for(c) for c in prompts]
    fault = request[FAULT]
    if fault.oversized_bytes is not None:
        conv_answers = [a.oversized(fault.oversized_bytes) for a in conv_answers]
    base = {"id": new_id("cmpl-", 29), "created": int(time.time()),
            "model": body["model"], "system_fingerprint": FINGERPRINT, "object": "text_completion"}
    prompt_tokens = sum(a.prompt_tokens for a in conv_answers)
    usage = _usage(prompt_tokens, sum(a.completion_tokens for a in conv_answers))
    if not body.get("stream"):
        choices = [{"text": a.text, "index": i, "logprobs": None, "finish_reason": _FINISH[a.finish]}
                   for i, a in enumerate(conv_answers)]
        return json_response({**base, "choices": choices, "usage": usage}, headers=_headers())
    frames: list[Frame] = []
    for i, a in enumerate(conv_answers):
        for tok in a.tokens:
            frames.append(Frame(_sse({**base, "choices": [
                {"text": tok, "index": i, "logprobs": None, "finish_reason": None}]}), content=True))
        frames.append(Frame(_sse({**base, "choices": [
            {"text": "", "index": i, "logprobs": None, "finish_reason": _FINISH[a.finish]}]})))
    if (body.get("stream_options") or {}).get("include_usage"):
        frames.append(Frame(_sse({**base, "choices": [], "usage": usage})))
    frames.append(_DONE)
    return await send_stream(request, frames, content_type="text/event-stream; charset=utf-8",
                             headers=_headers(), malformed=_MALFORMED, error_frame=_error_frame())


async def _embeddings(request: web.Request) -> web.Response:
    body = _body(request)
    if isinstance(body, web.Response):
        return body
    if not isinstance(body.get("model"), str):
        return _error(400, "you must provide a model parameter")
    raw = body.get("input")
    if raw is None or raw == [] or raw == "":
        return _error(400, "'input' : input must be a string or an array of strings",
                      param="input", code="invalid_value")
    texts = [raw] if isinstance(raw, str) else [str(x) for x in raw]
    if raw and isinstance(raw, list) and all(isinstance(x, int) for x in raw):
        texts = [str(raw)]
    dims = body.get("dimensions") or 8
    if not isinstance(dims, int) or dims < 1:
        return _error(400, "Invalid 'dimensions': must be a positive integer.", param="dimensions")
    b64 = body.get("encoding_format") == "base64"
    data = []
    for i, text in enumerate(texts):
        vec = embedding(text, dims)
        data.append({"object": "embedding", "index": i,
                     "embedding": embedding_base64(vec) if b64 else vec})
    tokens = word_count(texts)
    return json_response({"object": "list", "data": data, "model": body["model"],
                          "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
                         headers=_headers())


def _model_obj(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1686935002, "owned_by": "openai"}


async def _models(request: web.Request) -> web.Response:
    names = request.app[STATE].models or DEFAULT_MODELS
    return json_response({"object": "list", "data": [_model_obj(m) for m in names]},
                         headers=_headers())


async def _model(request: web.Request) -> web.Response:
    model_id = request.match_info["model"]
    if (err := _model_error(request, model_id)) is not None:
        return err
    return json_response(_model_obj(model_id), headers=_headers())


DIALECT = Dialect(
    kind="openai",
    routes=(
        web.post("/v1/chat/completions", _chat),
        web.post("/v1/completions", _completions),
        web.post("/v1/embeddings", _embeddings),
        web.get("/v1/models", _models),
        web.get("/v1/models/{model:.+}", _model),
    ),
    api_key=_api_key,
    check_auth=_check_auth,
    error=_error,
)
