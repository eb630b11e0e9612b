"""Whole-body checks of a parsed JSON request, before anything else reads it.

* Nesting depth is bounded by ``MAX_DEPTH``, what ``orjson`` can write back: it reads
  JSON nested up to 1024 levels but writes only 254, so a deeper body would fail every
  adapter that re-encodes it.
* No string, key or value, may contain NUL: PostgreSQL cannot store it in ``text``, and
  no upstream API takes it. (Lone surrogates and raw control characters are already
  refused by the JSON parser; infinities too, so every number is finite.)

Both are cheap on the common body: a depth over ``MAX_DEPTH`` needs at least that many
``{``/``[`` bytes and a NUL needs the six bytes ``\\u0000``, both found in C over the raw
body. Only a body that has them is re-encoded (in C, a tenth of the parse) or walked.
"""

from __future__ import annotations

from typing import Any

import orjson

from supervisors.errors import InvalidRequest

__all__ = ["MAX_DEPTH", "check_tree"]

#: deepest nesting of objects and arrays a request may have (the top-level object is 1)
MAX_DEPTH = 254
_CONTAINERS = frozenset({dict, list})


def check_tree(raw: bytes, body: Any) -> None:
    """Raise ``InvalidRequest`` for a body nested deeper than ``MAX_DEPTH`` or holding
    a NUL character; ``raw`` is the JSON text ``body`` was parsed from."""
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
        try:
            orjson.dumps(body)
        except orjson.JSONEncodeError:  # its only failure on parsed JSON: too deep
            raise InvalidRequest(
                f"The request body is nested too deeply (more than {MAX_DEPTH} levels)."
            ) from None
    if b"\\u0000" in raw and _has_nul(body):  # the escape may be text (``\\u0000``)
        raise InvalidRequest("The request body contains a NUL character (\\u0000), which "
                             "is not allowed in any string.")


def _has_nul(body: Any) -> bool:
    stack: list[Any] = [body]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        if node.__class__ is dict:
            for key, value in node.items():
                if "\x00" in key:
                    return True
                if value.__class__ in _CONTAINERS:
                    push(value)
                elif value.__class__ is str and "\x00" in value:
                    return True
        else:
            for value in node:
                if value.__class__ in _CONTAINERS:
                    push(value)
                elif value.__class__ is str and "\x00" in value:
                    return True
    return False
