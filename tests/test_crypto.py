"""Key cryptography: KeyRing (Fernet / MultiFernet), passphrases, client-key hashing."""

from __future__ import annotations

import re

import pytest
from cryptography.fernet import Fernet

from proxy.crypto import (
    PASSPHRASE_ITERATIONS,
    DecryptionError,
    KeyRing,
    client_key_prefix,
    constant_time_equals,
    derive_fernet_key,
    generate_client_key,
    generate_fernet_key,
    hash_client_key,
    key_last4,
)

pytestmark = pytest.mark.timeout(30)


def test_encrypt_then_decrypt_round_trips_and_hides_the_plaintext() -> None:
    ring = KeyRing([generate_fernet_key()])
    token = ring.encrypt("sk-secret-ünïcode")
    assert "sk-secret" not in token
    assert ring.decrypt(token) == "sk-secret-ünïcode"
    assert ring.encrypt("same") != ring.encrypt("same")  # fresh IV every time


def test_passphrase_derivation_is_deterministic_and_documented() -> None:
    import base64
    import hashlib

    expected = base64.urlsafe_b64encode(
        hashlib.pbkdf2_hmac("sha256", b"correct horse", b"openai-proxy/encryption-key/v1",
                            PASSPHRASE_ITERATIONS, dklen=32)
    ).decode()
    assert PASSPHRASE_ITERATIONS == 600_000
    assert derive_fernet_key("correct horse") == expected
    token = KeyRing.parse("correct horse").encrypt("sk-1")
    assert KeyRing.parse(" correct horse ").decrypt(token) == "sk-1"  # another replica
    assert Fernet(expected.encode()).decrypt(token.encode()) == b"sk-1"
    assert derive_fernet_key("another") != expected


def test_rotation_a_then_b_a_then_b_alone() -> None:
    a, b = generate_fernet_key(), generate_fernet_key()
    old = KeyRing.parse(a).encrypt("sk-rotate-me")
    both = KeyRing.parse(f"{b},{a}")
    assert len(both) == 2
    assert both.decrypt(old) == "sk-rotate-me"  # old rows still readable
    fresh = both.encrypt("sk-new")
    rotated = both.rotate(old)
    only_b = KeyRing.parse(b)
    assert only_b.decrypt(rotated) == "sk-rotate-me"
    assert only_b.decrypt(fresh) == "sk-new"  # the first key encrypts
    with pytest.raises(DecryptionError):
        only_b.decrypt(old)


def test_mixed_keys_and_passphrases_with_blanks() -> None:
    key = generate_fernet_key()
    ring = KeyRing.parse(f" {key} , , my passphrase ")
    assert len(ring) == 2
    assert KeyRing.parse("my passphrase").decrypt(KeyRing.parse(f"my passphrase,{key}").encrypt("x")) == "x"
    assert KeyRing.parse(key).decrypt(ring.encrypt("y")) == "y"


def test_wrong_key_raises_a_clear_error_without_secrets() -> None:
    secret_key = generate_fernet_key()
    token = KeyRing([generate_fernet_key()]).encrypt("sk-plain")
    with pytest.raises(DecryptionError) as error:
        KeyRing([secret_key]).decrypt(token)
    message = str(error.value)
    assert "ENCRYPTION_KEY" in message
    assert secret_key not in message and token not in message and "sk-plain" not in message
    for garbage in ("", "not a token", "ünïcode"):
        with pytest.raises(DecryptionError):
            KeyRing([secret_key]).decrypt(garbage)
    with pytest.raises(DecryptionError):
        KeyRing([secret_key]).rotate(token)


def test_an_empty_key_ring_is_refused() -> None:
    with pytest.raises(ValueError, match="ENCRYPTION_KEY"):
        KeyRing.parse(" , ")
    assert "key" in repr(KeyRing([generate_fernet_key()]))
    assert generate_fernet_key() not in repr(KeyRing([generate_fernet_key()]))


def test_client_keys_look_right_and_are_unique() -> None:
    keys = {generate_client_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert re.fullmatch(r"sk-proxy-[A-Za-z0-9_-]{43}", key)
    key = generate_client_key()
    assert client_key_prefix(key) == key[:12] and client_key_prefix(key).startswith("sk-proxy-")
    assert key_last4("sk-abcdef") == "cdef"


def test_client_key_hash_is_stable_and_keyed() -> None:
    digest = hash_client_key("server-secret", "sk-proxy-abc")
    assert digest == hash_client_key("server-secret", "sk-proxy-abc")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest != hash_client_key("other-secret", "sk-proxy-abc")
    assert digest != hash_client_key("server-secret", "sk-proxy-abd")
    # HMAC-SHA256 known answer (RFC 4231 test case 2)
    assert hash_client_key("Jefe", "what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    with pytest.raises(ValueError):
        hash_client_key("", "sk-proxy-abc")


def test_constant_time_equals() -> None:
    assert constant_time_equals("abc", "abc")
    assert not constant_time_equals("abc", "abd")
    assert not constant_time_equals("abc", "abcd")
    assert constant_time_equals("ünï", "ünï")
