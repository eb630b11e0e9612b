"""A Messages API request as an OpenAI chat request, for hops that do not speak Messages.

Decisions worth knowing:

* ``system`` (a string or text blocks) and any ``system`` message inside ``messages`` (Claude
  Code sends one) become one leading system message, joined with blank lines.
* User blocks: ``text``; ``image`` (base64 → a data URL, ``url`` as it is); ``document``
  with a text or content source → text, a base64 PDF → a ``file`` part; ``search_result``
  → text; ``tool_result`` → a ``tool`` message (string or block content; images in it
  follow in a user message; ``is_error`` → the text starts with ``Error:``), placed before
  the user's other blocks as chat APIs require. Thinking blocks are left out, and so are
  ``tool_reference`` blocks in a tool result (they load a deferred tool definition for
  Anthropic's tool search; Claude Code sends them; the tools themselves are translated).
  Any other block type is a 400 naming it.
* Assistant blocks: ``text`` and ``tool_use`` (→ ``tool_calls``, ``input`` as JSON);
  thinking and server-tool blocks are left out (they belong to the provider that made them).
* ``tools`` with an ``input_schema`` become function tools; the others (server tools such as
  ``web_search_*``, Anthropic-defined client tools, ``mcp_servers``) are left out and named
  in ``x-proxy-ignored-tools``; a ``tool_choice`` forcing one of them is a 400.
* ``tool_choice``: ``auto``/``any``/``tool``/``none`` → ``auto``/``required``/the function/
  ``none``; ``disable_parallel_tool_use`` → ``parallel_tool_calls: false``.
* ``max_tokens`` → ``max_completion_tokens`` (``openai``) or ``max_tokens``, at most the
  hop's output cap (``output_cap``: the mapping's ``config.max_tokens``, else the model's
  known output limit);
  ``stop_sequences`` → ``stop``; ``temperature``, ``top_p``; ``top_k`` where the provider
  has it (not ``openai``: a 400 naming it); ``metadata.user_id`` → ``user``;
  ``output_config.format`` (JSON schema) → ``response_format``; ``thinking`` /
  ``output_config.effort`` → ``reasoning_effort`` for OpenAI reasoning models.
* Left out, as they only tune how a Claude model runs: ``cache_control`` (anywhere),
  ``context_management``, ``service_tier``, ``container``, ``inference_geo``, ``speed``,
  ``thinking`` elsewhere, and unknown top-level fields.
"""

from __future__ import annotations

from typing import Any

import orjson

from supervisors.errors import InvalidRequest

from ..routing import Hop
from .output_cap import output_cap

__all__ = ["to_chat"]

#: OpenAI models that take ``reasoning_effort``
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high", "xhigh": "high"}


def _text_of(blocks: Any) -> str:
    if isinstance(blocks, str):
        return blocks
    if not isinstance(blocks, list):
        return ""
    return "\n".join(str(b.get("text") or "") for b in blocks
                     if isinstance(b, dict) and b.get("type", "text") == "text")


def _image_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":
        url = f"data:{source.get('media_type') or 'image/png'};base64,{source.get('data') or ''}"
    elif isinstance(source, dict) and source.get("type") == "url" and isinstance(
        source.get("url"), str
    ):
        url = source["url"]
    else:
        raise InvalidRequest(f"{where}: only base64 and url image sources can be sent to "
                             "this model's provider", param=where)
    return {"type": "image_url", "image_url": {"url": url}}


def _document_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    raw = block.get("source")
    source: dict[str, Any] = raw if isinstance(raw, dict) else {}
    title = block.get("title")
    kind = source.get("type")
    if kind == "text":
        text = str(source.get("data") or "")
    elif kind == "content":
        text = _text_of(source.get("content"))
    elif kind == "base64" and source.get("media_type") == "application/pdf":
        return {"type": "file", "file": {
            "filename": str(title or "document.pdf"),
            "file_data": f"data:application/pdf;base64,{source.get('data') or ''}"}}
    else:
        raise InvalidRequest(f"{where}: a document of source type {kind!r} cannot be sent "
                             "to this model's provider", param=where)
    return {"type": "text", "text": f"{title}\n\n{text}" if title else text}


def _search_result_part(block: dict[str, Any]) -> dict[str, Any]:
    head = " ".join(str(block.get(k)) for k in ("title", "source") if block.get(k))
    body = _text_of(block.get("content"))
    return {"type": "text", "text": f"{head}\n{body}" if head else body}


def _untranslatable(block: Any, where: str) -> InvalidRequest:
    kind = block.get("type") if isinstance(block, dict) else None
    return InvalidRequest(f"{where}: content blocks of type {kind!r} cannot be sent to this "
                          "model's provider", param=where)


def _tool_message(block: dict[str, Any], where: str) -> tuple[dict[str, Any], list[Any]]:
    tool_id = block.get("tool_use_id")
    if not isinstance(tool_id, str) or not tool_id:
        raise InvalidRequest(f"{where}.tool_use_id: Field required", param=where)
    content = block.get("content")
    images: list[dict[str, Any]] = []
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") == "image":
                images.append(_image_part(part, f"{where}.content.{j}"))
            elif isinstance(part, dict) and part.get("type") == "document":
                texts.append(str(_document_part(part, f"{where}.content.{j}").get("text", "")))
            elif isinstance(part, dict) and part.get("type") == "search_result":
                texts.append(_search_result_part(part)["text"])
            elif isinstance(part, dict) and part.get("type") == "text":
                texts.append(str(part.get("text") or ""))
            elif not (isinstance(part, dict) and part.get("type") == "tool_reference"):
                raise _untranslatable(part, f"{where}.content.{j}")
        text = "\n".join(texts)
    else:
        text = "" if content is None else str(content)
    if block.get("is_error"):
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": tool_id, "content": text}, images


def _user(message: dict[str, Any], i: int, out: list[dict[str, Any]]) -> None:
    content = message["content"]
    if isinstance(content, str):
        out.append({"role": "user", "content": content})
        return
    parts: list[dict[str, Any]] = []
    tool_images: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        kind, where = block["type"], f"messages.{i}.content.{j}"
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text") or "")})
        elif kind == "image":
            parts.append(_image_part(block, where))
        elif kind == "document":
            parts.append(_document_part(block, where))
        elif kind == "search_result":
            parts.append(_search_result_part(block))
        elif kind == "tool_result":
            tool, images = _tool_message(block, where)
            out.append(tool)
            tool_images += images
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise _untranslatable(block, where)
    parts = tool_images + parts
    if not parts:
        return
    if all(p["type"] == "text" for p in parts):
        out.append({"role": "user", "content": "\n".join(p["text"] for p in parts)})
    else:
        out.append({"role": "user", "content": parts})


def _assistant(message: dict[str, Any], out: list[dict[str, Any]]) -> None:
    content = message["content"]
    if isinstance(content, str):
        if content:
            out.append({"role": "assistant", "content": content})
        return
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        if block["type"] == "text":
            texts.append(str(block.get("text") or ""))
        elif block["type"] == "tool_use":
            calls.append({"id": str(block.get("id") or ""), "type": "function", "function": {
                "name": str(block.get("name") or ""),
                "arguments": orjson.dumps(block.get("input") or {}).decode()}})
        # thinking, redacted_thinking, server tool use and results: the provider's own
    if not texts and not calls:
        return
    turn: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        turn["tool_calls"] = calls
    out.append(turn)


def _tools(body: dict[str, Any], chat: dict[str, Any], ignored: list[str]) -> None:
    functions = []
    for tool in body.get("tools") or ():
        if isinstance(tool.get("input_schema"), dict) and tool.get("type", "custom") in (
            "custom", None
        ):
            function: dict[str, Any] = {"name": tool["name"],
                                        "parameters": tool["input_schema"]}
            if tool.get("description"):
                function["description"] = tool["description"]
            functions.append({"type": "function", "function": function})
        else:
            ignored.append(tool["name"])
    servers = body.get("mcp_servers")
    for server in servers if isinstance(servers, list) else ():
        if isinstance(server, dict) and isinstance(server.get("name"), str):
            ignored.append(f"mcp:{server['name']}")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool" and choice.get(
        "name") in ignored:
        raise InvalidRequest(f"tool_choice: the tool {choice['name']!r} cannot be run by this "
                             "model's provider", param="tool_choice")
    if not functions:
        if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
            raise InvalidRequest("tool_choice: no tool this model's provider can run was "
                                 "given", param="tool_choice")
        return
    chat["tools"] = functions
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "any":
            chat["tool_choice"] = "required"
        elif kind == "tool":
            chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
        elif kind in ("auto", "none"):
            chat["tool_choice"] = kind
        if choice.get("disable_parallel_tool_use") and kind != "none":
            chat["parallel_tool_calls"] = False


def _reasoning(body: dict[str, Any], hop: Hop, chat: dict[str, Any]) -> None:
    if hop.provider_type != "openai" or not hop.model.startswith(_REASONING_PREFIXES):
        return
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    thinking = body.get("thinking")
    if isinstance(effort, str) and effort in _EFFORTS:
        chat["reasoning_effort"] = _EFFORTS[effort]
    elif isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        budget = budget if isinstance(budget, int) else 0
        chat["reasoning_effort"] = "low" if budget < 4096 else (
            "medium" if budget < 16384 else "high")


def _format(body: dict[str, Any], chat: dict[str, Any]) -> None:
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if not isinstance(fmt, dict):
        return
    schema = fmt.get("schema")
    if fmt.get("type") != "json_schema" or not isinstance(schema, dict):
        raise InvalidRequest("output_config.format: only json_schema formats can be sent to "
                             "this model's provider", param="output_config.format")
    chat["response_format"] = {"type": "json_schema",
                               "json_schema": {"name": "output", "schema": schema}}


def to_chat(body: dict[str, Any], hop: Hop, *, stream: bool) -> tuple[dict[str, Any], list[str]]:
    """The chat request for ``hop`` and the names of the tools left out."""
    system = [_text_of(body.get("system"))] if body.get("system") else []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(body["messages"]):
        role = message["role"]
        if role == "system":
            system.append(_text_of(message["content"]))
        elif role == "user":
            _user(message, i, turns)
        else:
            _assistant(message, turns)
    messages = [{"role": "system", "content": "\n\n".join(s for s in system if s)}] if any(
        system) else []
    chat: dict[str, Any] = {"model": hop.model, "messages": messages + turns}
    limit = "max_completion_tokens" if hop.provider_type == "openai" else "max_tokens"
    cap = output_cap(hop)
    chat[limit] = body["max_tokens"] if cap is None else min(body["max_tokens"], cap)
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("top_k") is not None:
        if hop.provider_type == "openai":
            raise InvalidRequest("top_k: not supported by this model's provider (openai); "
                                 "leave it out", param="top_k")
        chat["top_k"] = body["top_k"]
    if body.get("stop_sequences"):
        chat["stop"] = list(body["stop_sequences"])
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        chat["user"] = metadata["user_id"]
    ignored: list[str] = []
    _tools(body, chat, ignored)
    _reasoning(body, hop, chat)
    _format(body, chat)
    for key, value in hop.defaults.items():
        if key not in chat and key not in ("max_tokens", "max_completion_tokens"):
            chat[key] = value
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat, ignored
