"""``ENCRYPTION_KEY`` entries held in AWS KMS: envelope encryption with a data key.

An entry ``aws-kms:<key id, alias or ARN>`` stands for a Fernet key that KMS generates
(``GenerateDataKey``, AES-256) and that the database keeps only in its KMS-encrypted
form (table ``encryption_data_keys``, one row per entry, shared by replicas). At start
the proxy asks KMS to decrypt it once (``Decrypt``) and holds the plaintext data key in
memory like any other Fernet key; the KMS master key itself never leaves KMS.

Mixed lists work as before: the first entry encrypts, every entry decrypts, and
``rotate-encryption`` re-encrypts under the first one, so moving from a Fernet key to
KMS is ``ENCRYPTION_KEY=aws-kms:…,<old key>`` + rotate, and back the same way.

The KMS endpoint and credentials come from the usual AWS settings
(``AWS_ENDPOINT_URL_KMS`` or ``AWS_ENDPOINT_URL``, ``AWS_REGION`` /
``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID`` … or any botocore credential source).
"""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any, Protocol

from .crypto import KeyRing

__all__ = ["KMS_PREFIX", "KmsUnavailable", "check_kms", "has_kms_entries", "open_keyring"]

KMS_PREFIX = "aws-kms:"
_CALL_TIMEOUT = 15.0


class KmsUnavailable(Exception):
    """KMS could not be reached or refused to produce a data key (message names the
    variable and the key reference, never key material)."""


class DataKeyStore(Protocol):
    async def wrapped_data_key(self, key_ref: str) -> str | None: ...
    async def store_wrapped_data_key(self, key_ref: str, wrapped: str) -> str: ...


def _entries(value: str) -> list[str]:
    return [e.strip() for e in value.split(",") if e.strip()]


def has_kms_entries(value: str) -> bool:
    return any(e.startswith(KMS_PREFIX) for e in _entries(value))


def kms_key_ids(value: str) -> list[str]:
    return [e[len(KMS_PREFIX):] for e in _entries(value) if e.startswith(KMS_PREFIX)]


async def open_keyring(value: str, store: DataKeyStore) -> KeyRing:
    """The key ring for an ``ENCRYPTION_KEY`` value, with every KMS entry resolved to its
    data key (generated and stored on first use). Raises ``KmsUnavailable``."""
    entries = _entries(value)
    if not any(e.startswith(KMS_PREFIX) for e in entries):
        return KeyRing(entries)
    resolved: list[str] = []
    async with _kms_client() as kms:
        for entry in entries:
            if entry.startswith(KMS_PREFIX):
                resolved.append(await _data_key(kms, store, entry[len(KMS_PREFIX):]))
            else:
                resolved.append(entry)
    return KeyRing(resolved)


async def check_kms(value: str) -> list[str]:
    """One line per KMS entry for ``openai-proxy check`` (``DescribeKey``)."""
    lines: list[str] = []
    ids = kms_key_ids(value)
    if not ids:
        return lines
    try:
        async with _kms_client() as kms:
            for key_id in ids:
                try:
                    meta = await asyncio.wait_for(kms.describe_key(KeyId=key_id), _CALL_TIMEOUT)
                    state = meta["KeyMetadata"].get("KeyState", "unknown")
                    lines.append(f"kms {key_id}: {'ok' if state == 'Enabled' else 'FAILED'} "
                                 f"(key state {state})")
                except Exception as exc:  # every failure is a line of the report
                    lines.append(f"kms {key_id}: FAILED ({_describe(exc)})")
    except Exception as exc:
        lines.append(f"kms: FAILED ({_describe(exc)})")
    return lines


async def _data_key(kms: Any, store: DataKeyStore, key_id: str) -> str:
    wrapped = await store.wrapped_data_key(key_id)
    try:
        if wrapped is None:
            made = await asyncio.wait_for(
                kms.generate_data_key(KeyId=key_id, KeySpec="AES_256"), _CALL_TIMEOUT)
            candidate = base64.b64encode(made["CiphertextBlob"]).decode("ascii")
            # another replica may have stored one first: everyone uses the stored one
            wrapped = await store.store_wrapped_data_key(key_id, candidate)
        plain = await asyncio.wait_for(
            kms.decrypt(CiphertextBlob=base64.b64decode(wrapped), KeyId=key_id), _CALL_TIMEOUT)
    except Exception as exc:
        raise KmsUnavailable(
            f"ENCRYPTION_KEY entry aws-kms:{key_id}: KMS at {_endpoint() or 'the AWS default'} "
            f"could not provide the data key ({_describe(exc)})") from None
    raw: bytes = plain["Plaintext"]
    if len(raw) != 32:
        raise KmsUnavailable(f"ENCRYPTION_KEY entry aws-kms:{key_id}: KMS returned a "
                             f"{len(raw)}-byte data key, expected 32")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_KMS") or os.environ.get("AWS_ENDPOINT_URL") or None


def _kms_client() -> Any:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    config = AioConfig(connect_timeout=5, read_timeout=10,
                       retries={"max_attempts": 2, "mode": "standard"})
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return get_session().create_client("kms", endpoint_url=_endpoint(), region_name=region,
                                        config=config)


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    name = type(exc).__name__
    return f"{name}: {text[:200]}" if text else name

