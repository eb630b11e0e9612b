"""Shape checks of what an OpenAI-compatible upstream answers, before it is relayed.

The ``openai`` adapter passes answers through untouched, but the gateway reads them
(usage, stream resume, first-content detection) and the other front ends translate them
(``/v1/messages``, ``/v1/responses``). An answer that parses but is not what the API
promises (``"choices": 5``, a delta that is a string, ``"tool_calls": 5``) is the
upstream's fault: it fails that call with ``UntranslatableAnswer`` (502, or the in-band
error once the stream has started) instead of surprising a reader further on.

Only the fields something reads are checked; unknown fields pass. The checks cost a
handful of type tests per chunk.
"""

from __future__ import annotations

from typing import Any

from ..errors import UntranslatableAnswer
from ..messages import Op

__all__ = ["check_answer", "check_chunk"]

_OPS = frozenset({"chat", "completions", "embeddings"})


def _bad(what: str) -> UntranslatableAnswer:
    return UntranslatableAnswer(f"the upstream's answer is malformed: {what}")


def _optional(value: Any, kind: type) -> bool:
    return value is None or value.__class__ is kind


def _tool_calls(calls: Any, *, partial: bool) -> None:
    if calls is None:
        return
    if calls.__class__ is not list:
        raise _bad("tool_calls is not an array")
    for call in calls:
        if call.__class__ is not dict:
            raise _bad("a tool call is not an object")
        function = call.get("function")
        if function is None and partial:
            continue
        if function.__class__ is not dict:
            raise _bad("a tool call has no function object")
        name, arguments = function.get("name"), function.get("arguments")
        if partial:
            ok = _optional(name, str) and _optional(arguments, str)
        else:
            ok = name.__class__ is str and _optional(arguments, str)
        if not ok:
            raise _bad("a tool call's function name or arguments is not a string")
        if not (_optional(call.get("id"), str) and _optional(call.get("index"), int)):
            raise _bad("a tool call's id or index has the wrong type")


def _choices(obj: dict[str, Any], field: str | None) -> list[Any]:
    choices = obj.get("choices")
    if choices is None:
        return []
    if choices.__class__ is not list:
        raise _bad("choices is not an array")
    for choice in choices:  # the checks of ``_optional``, inlined: this runs per chunk
        if choice.__class__ is not dict:
            raise _bad("a choice is not an object")
        index, finish = choice.get("index"), choice.get("finish_reason")
        if not ((index is None or index.__class__ is int)
                and (finish is None or finish.__class__ is str)):
            raise _bad("a choice's index or finish_reason has the wrong type")
        if field is None:  # a text completion
            if not _optional(choice.get("text"), str):
                raise _bad("a choice's text is not a string")
            continue
        message = choice.get(field)
        if message is None and field == "delta":
            continue
        if message.__class__ is not dict:
            raise _bad(f"a choice's {field} is not an object")
        content, refusal = message.get("content"), message.get("refusal")
        if not ((content is None or content.__class__ is str)
                and (refusal is None or refusal.__class__ is str)):
            raise _bad(f"a choice's {field} content is not a string")
        calls = message.get("tool_calls")
        if calls is not None:
            _tool_calls(calls, partial=field == "delta")
    return choices


def _usage(obj: dict[str, Any]) -> None:
    usage = obj.get("usage")
    if usage is not None and usage.__class__ is not dict:
        raise _bad("usage is not an object")


def check_answer(op: Op, obj: dict[str, Any]) -> None:
    """A whole answer (``chat.completion``, ``text_completion`` or an embeddings list)."""
    _usage(obj)
    if op not in _OPS:
        return
    if op == "embeddings":
        data = obj.get("data")
        if data.__class__ is not list or not all(
            item.__class__ is dict and item.get("embedding").__class__ in (list, str)
            for item in data
        ):
            raise _bad("data is not an array of embeddings")
        return
    _choices(obj, "message" if op == "chat" else None)


def check_chunk(obj: dict[str, Any], op: Op) -> Any:
    """One stream chunk (``chat.completion.chunk`` or ``text_completion``); returns its
    ``usage`` (an object or None), checked."""
    usage = obj.get("usage")
    if usage is not None and usage.__class__ is not dict:
        raise _bad("usage is not an object")
    if op in _OPS:
        _choices(obj, "delta" if op == "chat" else None)
    return usage
