"""Fault specs and the queue that hands them to matching requests.

A spec is a plain dict (so it travels over ``POST /_fault`` as JSON)::

    {"times": 1, "path": "/v1/chat/completions", "model": "m", "key": "k",
     "status": 429, "retry_after": 2, "code": "...", "message": "...", "body": {...},
     "delay_ms": 0, "hang": False, "reset": False,
     "first_token_delay_ms": 0, "chunk_delay_ms": 0, "cut_after_chunks": None,
     "stall_after_chunks": None, "malformed_after_chunks": None,
     "error_event_after_chunks": None, "no_done": False, "oversized_bytes": None,
     "body_delay_ms": 0, "retry_after_header": None, "token_bytes": 0}

``body_delay_ms``: a whole (non-stream) answer sends its headers and the start of its
body at once, the rest after this delay (a long generation). ``retry_after_header``: the
``Retry-After`` header exactly as given (``"inf"``, ``"nan"``, ``"-3"``, ``"1e308"``).
``token_bytes`` (openai chat): each text token padded to this many characters (big
chunks without a big prompt).

Faults queue up in order; a request takes the first spec whose filters match it.
``times`` counts the requests a spec applies to; ``-1`` keeps it until cleared.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["Fault", "FaultQueue", "parse_fault"]

MAX_PENDING = 1000


@dataclass(frozen=True)
class Fault:
    times: int = 1
    path: str | None = None
    model: str | None = None
    key: str | None = None
    status: int | None = None
    body: Any = None
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    delay_ms: int = 0
    hang: bool = False
    reset: bool = False
    first_token_delay_ms: int = 0
    chunk_delay_ms: int = 0
    cut_after_chunks: int | None = None
    stall_after_chunks: int | None = None
    malformed_after_chunks: int | None = None
    error_event_after_chunks: int | None = None
    no_done: bool = False
    oversized_bytes: int | None = None
    body_delay_ms: int = 0
    retry_after_header: str | None = None
    token_bytes: int = 0

    def matches(self, path: str, model: str | None, key: str | None) -> bool:
        return (
            (self.path is None or self.path == path)
            and (self.model is None or self.model == model)
            and (self.key is None or self.key == key)
        )


_INT_FIELDS = {
    "times", "status", "delay_ms", "first_token_delay_ms", "chunk_delay_ms",
    "cut_after_chunks", "stall_after_chunks", "malformed_after_chunks",
    "error_event_after_chunks", "oversized_bytes", "body_delay_ms",
    "token_bytes",
}
_BOOL_FIELDS = {"hang", "reset", "no_done"}
_STR_FIELDS = {"path", "model", "key", "code", "message", "retry_after_header"}
_KNOWN = {f.name for f in fields(Fault)}


def parse_fault(spec: Mapping[str, Any]) -> Fault:
    """Validate a spec dict; unknown fields and wrong types raise ``ValueError``."""
    if not isinstance(spec, Mapping):
        raise ValueError("a fault spec must be a JSON object")
    unknown = set(spec) - _KNOWN
    if unknown:
        raise ValueError(f"unknown fault fields: {sorted(unknown)}")
    for name, value in spec.items():
        if value is None:
            continue
        if name in _INT_FIELDS and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError(f"fault field {name!r} must be an integer")
        if name in _BOOL_FIELDS and not isinstance(value, bool):
            raise ValueError(f"fault field {name!r} must be a boolean")
        if name in _STR_FIELDS and not isinstance(value, str):
            raise ValueError(f"fault field {name!r} must be a string")
        if name == "retry_after" and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise ValueError("fault field 'retry_after' must be a number")
    fault = Fault(**spec)
    if fault.times == 0 or fault.times < -1:
        raise ValueError("'times' must be a positive integer or -1")
    if fault.status is not None and not 100 <= fault.status <= 599:
        raise ValueError("'status' must be an HTTP status code")
    return fault


class FaultQueue:
    """Thread-safe FIFO of pending faults (tests add, the server loop takes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[Fault, list[int]]] = []  # (fault, [remaining])

    def add(self, fault: Fault) -> None:
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                raise ValueError(f"more than {MAX_PENDING} pending faults")
            self._pending.append((fault, [fault.times]))

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def take(self, path: str, model: str | None, key: str | None) -> Fault | None:
        """The first pending fault matching this request, consuming one use of it."""
        with self._lock:
            for i, (fault, remaining) in enumerate(self._pending):
                if not fault.matches(path, model, key):
                    continue
                if remaining[0] > 0:
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        del self._pending[i]
                return fault
        return None
