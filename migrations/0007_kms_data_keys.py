"""KMS data keys: ``ENCRYPTION_KEY`` entries of the form ``aws-kms:<key id>``.

One row per KMS key reference: the data key KMS generated for it, stored only in its
KMS-encrypted form (base64 of the ``CiphertextBlob``). Replicas share it; the plaintext
data key exists only in memory, decrypted by KMS at start (``proxy.kms``).

Forward-only; re-running is harmless (``IF NOT EXISTS``).
"""

from yoyo import step

__depends__ = {"0001_initial"}

TS = {"postgresql": "TIMESTAMPTZ", "sqlite": "TEXT"}


def _dialect(conn: object) -> str:
    return "sqlite" if type(conn).__module__.startswith("sqlite3") else "postgresql"


def apply_schema(conn: object) -> None:
    cursor = conn.cursor()  # type: ignore[attr-defined]
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS encryption_data_keys ("
        " key_ref TEXT PRIMARY KEY,"
        " wrapped TEXT NOT NULL,"
        f" created_at {TS[_dialect(conn)]} NOT NULL)"
    )


steps = [step(apply_schema)]
