"""Masking of secrets for logs and API responses.

Every provider key that leaves the process (log line, admin response, health page)
goes through :func:`mask_secret`; free text that may echo a key (an upstream error
message) goes through :func:`redact_secret`. Every error a provider's upstream answers
with is scrubbed of all of that provider's secrets (:func:`scrub_error`, applied by the
worker where the upstream's answer becomes a ``ProxyError``) before it reaches a client,
a log line, the health page or the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .errors import ProxyError
    from .spec import ProviderSpec

__all__ = ["MASK", "mask_secret", "redact_secret", "scrub", "scrub_error", "spec_secrets"]

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


def spec_secrets(spec: ProviderSpec) -> tuple[str, ...]:
    """A provider's secrets: its keys and its header values (the short ones excepted:
    masking them would mangle ordinary words), longest first."""
    values = {entry[2] for entry in spec.keys}
    values.update(spec.config.headers.values())
    return tuple(sorted((v for v in values if len(v) >= _MIN_REVEAL_LENGTH), key=len,
                        reverse=True))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every one of ``secrets`` masked."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, mask_secret(secret))
    return text


def scrub_error(err: ProxyError, secrets: Iterable[str]) -> ProxyError:
    """Mask ``secrets`` in the error's text fields, in place; returns ``err``."""
    secrets = tuple(secrets)
    if secrets:
        err.message = scrub(err.message, secrets)
        err.args = (err.message,)
        if err.param:
            err.param = scrub(err.param, secrets)
        if err.code:
            err.code = scrub(err.code, secrets)
    return err
