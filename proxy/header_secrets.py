"""Provider ``config.headers``: secrets like provider keys.

At rest the headers of a provider are one Fernet token (``providers.headers_encrypted``,
the JSON object encrypted under the ``ENCRYPTION_KEY`` key ring, re-encrypted by
``rotate-encryption``); the stored ``config`` never holds them. The admin API shows every
value masked (``****`` + last 4 characters, ``****`` for short values); a value sent back
exactly as shown keeps the stored one. Only the supervisor spec gets them in clear.

Versions before migration 0002 kept them in plaintext inside ``config``:
:func:`seal_plaintext_headers` moves them into the token at start-up (and is harmless to
run on every start and on several replicas at once).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson

from supervisors.masking import mask_secret

from .crypto import DecryptionError, KeyRing
from .store.base import ProviderRow, Store

__all__ = [
    "masked_headers",
    "open_headers",
    "provider_headers",
    "seal_headers",
    "seal_plaintext_headers",
    "split_headers",
]

log = logging.getLogger("proxy.headers")


def seal_headers(keyring: KeyRing, headers: Mapping[str, str]) -> str | None:
    """The token for ``headers`` (None when there are none)."""
    if not headers:
        return None
    return keyring.encrypt(orjson.dumps(dict(headers)).decode("utf-8"))


def open_headers(keyring: KeyRing, token: str | None) -> dict[str, str]:
    """The headers a token holds; ``DecryptionError`` when no configured key opens it."""
    if not token:
        return {}
    try:
        value = orjson.loads(keyring.decrypt(token))
    except orjson.JSONDecodeError as exc:
        raise DecryptionError("stored headers are not a JSON object") from exc
    if not isinstance(value, dict):
        raise DecryptionError("stored headers are not a JSON object")
    return {str(k): str(v) for k, v in value.items()}


def provider_headers(keyring: KeyRing, row: ProviderRow) -> dict[str, str]:
    """Every header of a stored provider, decrypted (plaintext ones of old rows included)."""
    headers = _plaintext(row.config)
    headers.update(open_headers(keyring, row.headers_encrypted))
    return headers


def masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: mask_secret(value) for name, value in headers.items()}


def split_headers(
    config: dict[str, Any], stored: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, str] | None]:
    """``config`` without ``headers``, and the headers to store (None: not given).

    A value equal to the masked form of the stored value of that header keeps the stored
    value, so a config read back from the API and sent again changes nothing.
    """
    if "headers" not in config:
        return config, None
    rest = {k: v for k, v in config.items() if k != "headers"}
    given = config["headers"] or {}
    headers: dict[str, str] = {}
    for name, value in given.items():
        previous = (stored or {}).get(name)
        if previous is not None and value == mask_secret(previous) and value != previous:
            value = previous
        headers[name] = value
    return rest, headers


def _plaintext(config: Mapping[str, Any]) -> dict[str, str]:
    headers = config.get("headers")
    if not isinstance(headers, Mapping):
        return {}
    return {str(k): str(v) for k, v in headers.items()}


async def seal_plaintext_headers(store: Store, keyring: KeyRing) -> int:
    """Move headers stored in plaintext (before migration 0002) into the encrypted column;
    returns how many providers changed. A provider whose stored token cannot be opened
    is left as it is (reported by health and ``check``)."""
    moved = 0
    for row in await store.list_providers():
        if "headers" not in row.config:
            continue
        try:
            headers = provider_headers(keyring, row)
        except DecryptionError:
            continue
        config = {k: v for k, v in row.config.items() if k != "headers"}
        await store.update_provider(
            row.id, config=config, headers_encrypted=seal_headers(keyring, headers)
        )
        moved += 1
    if moved:
        log.info("provider headers moved to encrypted storage", extra={"providers": moved})
    return moved
