"""Key cryptography: provider keys encrypted at rest, client keys as keyed hashes.

Provider (upstream) keys are encrypted with Fernet under a ``KeyRing`` built from
``ENCRYPTION_KEY``: a comma-separated list whose first entry encrypts and whose every
entry decrypts (MultiFernet), so keys rotate without downtime:

1. ``ENCRYPTION_KEY=A`` (everything encrypted under A)
2. ``ENCRYPTION_KEY=B,A`` on every replica (new writes under B, old rows still readable)
3. ``openai-proxy rotate-encryption`` (``KeyRing.rotate`` re-encrypts every row under B)
4. ``ENCRYPTION_KEY=B``

Client keys are never stored: only ``hash_client_key(SECRET_KEY, key)`` (HMAC-SHA256, hex)
and a short display prefix. Comparisons use ``constant_time_equals``.

No function here logs, and no error message carries key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = [
    "CLIENT_KEY_PREFIX",
    "PASSPHRASE_ITERATIONS",
    "PASSPHRASE_SALT",
    "DecryptionError",
    "KeyRing",
    "client_key_prefix",
    "constant_time_equals",
    "derive_fernet_key",
    "generate_client_key",
    "generate_fernet_key",
    "hash_client_key",
    "key_last4",
]

CLIENT_KEY_PREFIX = "sk-proxy-"
PASSPHRASE_SALT = b"openai-proxy/encryption-key/v1"
PASSPHRASE_ITERATIONS = 600_000
_DISPLAY_PREFIX_LEN = 12


class DecryptionError(Exception):
    """A stored value cannot be decrypted with any configured ``ENCRYPTION_KEY``."""


@lru_cache(maxsize=32)
def derive_fernet_key(passphrase: str) -> str:
    """Derive a Fernet key from a passphrase; deterministic, so every replica agrees.

    Derivation (stable, part of the storage format)::

        raw = PBKDF2-HMAC-SHA256(password=passphrase.encode("utf-8"),
                                 salt=b"openai-proxy/encryption-key/v1",
                                 iterations=600_000, dklen=32)
        key = urlsafe_b64encode(raw)            # 44 ASCII characters

    The salt is fixed on purpose: the same passphrase must give the same key on every
    replica and after every restart. Results are memoised per passphrase (the
    derivation takes a few hundred milliseconds).
    """
    if not passphrase:
        raise ValueError("an empty passphrase cannot be used as an encryption key")
    raw = hashlib.pbkdf2_hmac(
        "sha256", passphrase.encode("utf-8"), PASSPHRASE_SALT, PASSPHRASE_ITERATIONS, dklen=32
    )
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _as_fernet_key(entry: str) -> str:
    """Return ``entry`` if it is a Fernet key, else the key derived from it as a passphrase."""
    try:
        raw = base64.b64decode(entry.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(entry) == 44 and len(raw) == 32:
        return entry
    return derive_fernet_key(entry)


class KeyRing:
    """Encrypts under the first key; decrypts under any; rotates to the first.

    Each entry is a Fernet key when it is 44 characters of base64 that decode to 32
    bytes (what ``generate_fernet_key`` prints); anything else is a passphrase, turned
    into a Fernet key by ``derive_fernet_key``. Surrounding blanks and empty entries
    are ignored.
    """

    __slots__ = ("_fernet", "_size")

    def __init__(self, keys: Sequence[str]) -> None:
        entries = [k.strip() for k in keys if k and k.strip()]
        if not entries:
            raise ValueError("ENCRYPTION_KEY holds no key")
        self._fernet = MultiFernet([Fernet(_as_fernet_key(e)) for e in entries])
        self._size = len(entries)

    @classmethod
    def parse(cls, env_value: str) -> KeyRing:
        """Build from the ``ENCRYPTION_KEY`` value: comma-separated keys or passphrases."""
        return cls(env_value.split(","))

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"KeyRing(<{self._size} key(s)>)"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptionError(
                "stored value cannot be decrypted with any configured ENCRYPTION_KEY"
            ) from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` under the first key (a no-op in meaning, not in bytes)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptionError(
                "stored value cannot be decrypted with any configured ENCRYPTION_KEY"
            ) from exc


def generate_fernet_key() -> str:
    return Fernet.generate_key().decode("ascii")


def generate_client_key() -> str:
    """A new client key: ``sk-proxy-`` and 43 URL-safe characters (256 random bits)."""
    return CLIENT_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_client_key(secret_key: str, plaintext: str) -> str:
    """HMAC-SHA256 of the client key under ``SECRET_KEY``, lowercase hex (64 chars)."""
    if not secret_key:
        raise ValueError("SECRET_KEY must not be empty")
    digest = hmac.new(secret_key.encode("utf-8"), plaintext.encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()


def client_key_prefix(plaintext: str) -> str:
    """The first 12 characters, safe to display (``sk-proxy-abc``)."""
    return plaintext[:_DISPLAY_PREFIX_LEN]


def key_last4(plaintext: str) -> str:
    """The last 4 characters of a provider key, the only part ever shown or logged."""
    return plaintext[-4:]


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
