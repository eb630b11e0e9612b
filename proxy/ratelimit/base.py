"""The rate-limiter contract shared by the in-process and the Redis backend.

Semantics (both backends, tested by one parametrised suite):

* A request scope (``Limit``) admits a request when fewer than ``limit`` requests were
  admitted for that scope in the rolling window ``(now - window, now]``; ``limit <= 0``
  means unlimited and the scope is skipped.
* ``acquire`` is all-or-nothing: the request is recorded in every scope only when every
  scope (and the token check) admits it; a refused request records nothing.
* Tokens are checked, never consumed, by ``acquire``: it refuses while the tokens charged
  in the rolling window are ``>= limit``. ``charge_tokens`` records the usage the provider
  reported, in buckets of ``window / TOKEN_BUCKETS`` seconds; a bucket counts while any
  part of it lies inside the window, so the token window errs on the strict side by at
  most one bucket (1 s for a 60 s window).
* ``retry_after`` is the number of seconds until this same request would be admitted
  (the largest over every refusing scope); ``scope`` names the refusing scope with that
  largest wait, ``"tokens"`` for the token check.
* ``limit``/``remaining``/``reset`` describe the most restrictive request scope (least
  remaining, after this request when admitted); ``reset`` is the number of seconds until
  its oldest counted request leaves the window (0 when the window is empty). With no
  limited request scope, ``limit`` is 0 (unlimited: omit the headers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "DEFAULT_WINDOW",
    "SCOPES",
    "TOKEN_BUCKETS",
    "TOKENS_SCOPE",
    "Decision",
    "Limit",
    "RateLimiter",
]

DEFAULT_WINDOW = 60.0
TOKEN_BUCKETS = 60
SCOPES = ("global", "tenant", "key", "ip")
TOKENS_SCOPE = "tokens"


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit: ``scope`` ("global" | "tenant" | "key" | "ip"), the identity within
    the scope (tenant name, key id, client IP; anything for "global") and the number of
    requests (or tokens) per window; ``limit <= 0`` means unlimited."""

    scope: str
    key: str
    limit: int


@dataclass(slots=True)
class Decision:
    allowed: bool
    scope: str | None
    retry_after: float
    limit: int
    remaining: int
    reset: float
    tokens_limit: int | None = None
    tokens_remaining: int | None = None
    tokens_reset: float | None = None


class RateLimiter(Protocol):
    async def acquire(self, limits: Sequence[Limit], tokens: Limit | None = None) -> Decision:
        """Admit one request in every scope of ``limits`` or in none of them."""
        ...

    async def charge_tokens(self, tokens: Limit, amount: int) -> None:
        """Record ``amount`` tokens of reported usage against ``tokens``' identity."""
        ...

    async def ping(self) -> bool:
        """True when the backend is reachable (always, in-process)."""
        ...

    async def aclose(self) -> None: ...
