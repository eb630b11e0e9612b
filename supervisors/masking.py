"""Masking of secrets for logs and API responses.

Every provider key that leaves the process (log line, admin response, health page)
goes through :func:`mask_secret`; free text that may echo a key (an upstream error
message) goes through :func:`redact_secret`.
"""

from __future__ import annotations

__all__ = ["MASK", "mask_secret", "redact_secret"]

MASK = "****"
_MIN_REVEAL_LENGTH = 8  # below this, the last 4 characters are too much of the secret


def mask_secret(secret: str | None) -> str:
    """``"****" + last 4 characters``; just ``"****"`` for short or empty secrets."""
    if not secret or len(secret) < _MIN_REVEAL_LENGTH:
        return MASK
    return MASK + secret[-4:]


def redact_secret(text: str, secret: str | None) -> str:
    """Replace every occurrence of ``secret`` in ``text`` by its masked form."""
    if not secret:
        return text
    return text.replace(secret, mask_secret(secret))
