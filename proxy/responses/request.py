"""A ``POST /v1/responses`` body: checked, and turned into the internal chat request.

What the gateway cannot honour is handled in one of three ways:

* fields that only tune how an OpenAI model runs (``reasoning``, ``include``,
  ``prompt_cache_key``, ``truncation``, ``service_tier``, ...) are accepted and ignored;
* tools other than ``function`` (``web_search``, ``file_search``, ``code_interpreter``,
  ``namespace``, ``custom``, ...) are left out of the upstream request and named in
  :attr:`ResponsesRequest.ignored_tools` (the ``x-proxy-ignored-tools`` header); a
  ``tool_choice`` that forces one of them is a 400;
* fields that would change the answer and that no provider here can honour
  (``background``, ``conversation``, ``prompt``) are a 400 naming them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from supervisors.errors import InvalidRequest

from .items import normalise_input

__all__ = ["ResponsesRequest", "parse_request"]

#: answer-changing features with no equivalent in a chat API: refused by name
_REFUSED = {
    "background": "background mode is not supported by this gateway",
    "conversation": "the Conversations API is not supported by this gateway; use "
                    "previous_response_id",
    "prompt": "stored prompt templates are not supported by this gateway",
}
_TOOL_CHOICE_MODES = ("auto", "none", "required")
#: tool types and function names as OpenAI accepts them (they also end up in a header)
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_MAX_TOOLS = 512


@dataclass(slots=True)
class ResponsesRequest:
    model: str
    stream: bool
    store: bool
    input_items: list[dict[str, Any]]
    instructions: str | None
    previous_response_id: str | None
    #: chat-completions fields other than ``model``/``messages``/``stream``
    chat: dict[str, Any]
    #: the request's settings as the response object echoes them
    echo: dict[str, Any]
    ignored_tools: list[str] = field(default_factory=list)
    fallbacks: list[Any] | None = None


def _bad(message: str, param: str, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def _typed(body: dict[str, Any], name: str, kinds: tuple[type, ...], what: str) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise _bad(f"Invalid type for '{name}': expected {what}.", name, "invalid_type")
    return value


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = _typed(body, name, (int, float), "a number")
    if value is not None and not low <= value <= high:
        raise _bad(f"'{name}' must be between {low:g} and {high:g}.", name,
                   "decimal_out_of_range")
    return value


def _function_tool(tool: dict[str, Any], param: str) -> dict[str, Any]:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise _bad(f"Missing required parameter: '{param}.name'.", f"{param}.name",
                   "missing_required_parameter")
    if not _TOOL_NAME.fullmatch(name):
        raise _bad(f"Invalid '{param}.name': use letters, digits, '_', '-', '.' or ':' "
                   "(at most 128).", f"{param}.name")
    parameters = tool.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise _bad(f"Invalid type for '{param}.parameters': expected an object.",
                   f"{param}.parameters", "invalid_type")
    function: dict[str, Any] = {"name": name}
    description = tool.get("description")
    if isinstance(description, str):
        function["description"] = description
    function["parameters"] = parameters if parameters is not None else {
        "type": "object", "properties": {}}
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _tools(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """(chat tools, ignored tool types, tools as echoed)."""
    tools = _typed(body, "tools", (list,), "an array")
    if not tools:
        return [], [], []
    if len(tools) > _MAX_TOOLS:
        raise _bad(f"'tools' has more than {_MAX_TOOLS} entries.", "tools")
    chat: list[dict[str, Any]] = []
    ignored: list[str] = []
    echo: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        param = f"tools[{i}]"
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise _bad(f"Invalid type for '{param}': expected a tool object with a 'type'.",
                       param, "invalid_type")
        if not _TOOL_NAME.fullmatch(tool["type"]):
            raise _bad(f"Invalid value for '{param}.type'.", f"{param}.type")
        if tool["type"] == "function":
            chat.append(_function_tool(tool, param))
            echo.append({"strict": True, "description": None, **tool})
        elif tool["type"] not in ignored:
            ignored.append(tool["type"])
    return chat, ignored, echo


def _tool_choice(value: Any, names: set[str]) -> Any:
    """The chat ``tool_choice`` for a Responses ``tool_choice``."""
    if value is None or value in _TOOL_CHOICE_MODES:
        return value
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise _bad("Invalid value for 'tool_choice': expected 'auto', 'none', 'required' or "
                   "a tool choice object.", "tool_choice")
    kind = value["type"]
    if kind == "function":
        name = value.get("name")
        if not isinstance(name, str) or name not in names:
            raise _bad(f"Tool choice names function {str(name)[:64]!r}, which is not in "
                       "'tools'.", "tool_choice")
        return {"type": "function", "function": {"name": name}}
    if kind == "allowed_tools":
        mode = value.get("mode", "auto")
        return mode if mode in ("auto", "required") else "auto"
    raise _bad(f"tool_choice forces the tool {kind[:64]!r}, which this gateway's providers "
               "cannot run (only function tools are supported).", "tool_choice",
               "unsupported_tool")


def _text_format(body: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(chat ``response_format``, ``text`` as echoed)."""
    text = _typed(body, "text", (dict,), "an object")
    fmt = (text or {}).get("format")
    if fmt is None:
        return None, {"format": {"type": "text"}, **_verbosity(text)}
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise _bad("Invalid value for 'text.format.type': supported values are 'text', "
                   "'json_object' and 'json_schema'.", "text.format.type")
    echo = {"format": fmt, **_verbosity(text)}
    if fmt["type"] == "text":
        return None, echo
    if fmt["type"] == "json_object":
        return {"type": "json_object"}, echo
    schema, name = fmt.get("schema"), fmt.get("name")
    if not isinstance(schema, dict):
        raise _bad("Missing required parameter: 'text.format.schema'.", "text.format.schema",
                   "missing_required_parameter")
    if not isinstance(name, str) or not name:
        raise _bad("Missing required parameter: 'text.format.name'.", "text.format.name",
                   "missing_required_parameter")
    spec: dict[str, Any] = {"name": name, "schema": schema}
    if isinstance(fmt.get("strict"), bool):
        spec["strict"] = fmt["strict"]
    if isinstance(fmt.get("description"), str):
        spec["description"] = fmt["description"]
    return {"type": "json_schema", "json_schema": spec}, echo


def _verbosity(text: dict[str, Any] | None) -> dict[str, Any]:
    verbosity = (text or {}).get("verbosity")
    return {"verbosity": verbosity} if isinstance(verbosity, str) else {}


def _metadata(body: dict[str, Any]) -> dict[str, str]:
    metadata = _typed(body, "metadata", (dict,), "an object")
    if not metadata:
        return {}
    if len(metadata) > 16 or not all(
        isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512
        for k, v in metadata.items()
    ):
        raise _bad("'metadata' holds at most 16 string pairs (keys up to 64 characters, "
                   "values up to 512).", "metadata")
    return dict(metadata)


def parse_request(body: dict[str, Any]) -> ResponsesRequest:
    """Check ``body`` and build the request; every failure is a 400 naming the field."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip() or len(model) > 256:
        raise _bad("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    for name, why in _REFUSED.items():
        if body.get(name) not in (None, False):
            raise _bad(f"'{name}' is not supported: {why}.", name, "unsupported_parameter")
    if "input" not in body or body["input"] is None:
        raise _bad("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    items = normalise_input(body["input"])
    stream = bool(_typed(body, "stream", (bool,), "a boolean"))
    store = _typed(body, "store", (bool,), "a boolean")
    instructions = _typed(body, "instructions", (str,), "a string")
    previous = _typed(body, "previous_response_id", (str,), "a string")
    if previous is not None and not previous:
        raise _bad("Invalid 'previous_response_id': empty string.", "previous_response_id")
    temperature = _number(body, "temperature", 0, 2)
    top_p = _number(body, "top_p", 0, 1)
    max_output = _typed(body, "max_output_tokens", (int,), "an integer")
    if max_output is not None and max_output < 1:
        raise _bad("'max_output_tokens' must be at least 1.", "max_output_tokens",
                   "integer_below_min_value")
    parallel = _typed(body, "parallel_tool_calls", (bool,), "a boolean")
    user = _typed(body, "user", (str,), "a string")
    for name in ("reasoning", "stream_options"):
        _typed(body, name, (dict,), "an object")
    for name in ("include",):
        _typed(body, name, (list,), "an array")
    fallbacks = _typed(body, "fallbacks", (list,), "a list of model names")
    tools, ignored, echo_tools = _tools(body)
    names = {t["function"]["name"] for t in tools}
    tool_choice = _tool_choice(body.get("tool_choice"), names)
    response_format, echo_text = _text_format(body)
    metadata = _metadata(body)

    chat: dict[str, Any] = {}
    if temperature is not None:
        chat["temperature"] = temperature
    if top_p is not None:
        chat["top_p"] = top_p
    if max_output is not None:
        chat["max_completion_tokens"] = max_output
    if user is not None:
        chat["user"] = user
    if response_format is not None:
        chat["response_format"] = response_format
    if tools and tool_choice != "none":
        chat["tools"] = tools
        if tool_choice is not None:
            chat["tool_choice"] = tool_choice
        if parallel is not None:
            chat["parallel_tool_calls"] = parallel
    echo = {
        "instructions": instructions,
        "max_output_tokens": max_output,
        "metadata": metadata,
        "model": model,
        "parallel_tool_calls": True if parallel is None else parallel,
        "previous_response_id": previous,
        "reasoning": {"effort": None, "summary": None},
        "store": True if store is None else store,
        "temperature": 1.0 if temperature is None else temperature,
        "text": echo_text,
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": echo_tools,
        "top_p": 1.0 if top_p is None else top_p,
        "truncation": "disabled",
        "user": user,
    }
    return ResponsesRequest(
        model=model, stream=stream, store=echo["store"], input_items=items,
        instructions=instructions, previous_response_id=previous, chat=chat, echo=echo,
        ignored_tools=ignored, fallbacks=fallbacks,
    )
