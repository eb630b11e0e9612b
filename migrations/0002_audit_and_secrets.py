"""Audit look-ups and provider header secrets.

* ``audit_log.session_id``: the client's session (Claude Code's
  ``X-Claude-Code-Session-Id``), so one conversation's requests can be found together.
* Indexes for the ``/admin/audit`` filters an operator starts from: ``request_id`` (the
  ``x-request-id`` a client reports), ``alias``, ``upstream_model`` and ``session_id``.
* ``providers.headers_encrypted``: the provider's ``config.headers`` as one Fernet token
  (encrypted like provider keys, re-encrypted by ``rotate-encryption``). Values stored in
  plaintext by earlier versions are moved into it by the application at start-up (this
  step cannot: it has no ``ENCRYPTION_KEY``).

Forward-only; re-running is harmless (columns are added only when missing, indexes are
``IF NOT EXISTS``).
"""

from yoyo import step

__depends__ = {"0001_initial"}

COLUMNS = (
    ("audit_log", "session_id", "TEXT"),
    ("providers", "headers_encrypted", "TEXT"),
)

INDEXES = """
CREATE INDEX IF NOT EXISTS audit_log_request_id_idx ON audit_log (request_id);
CREATE INDEX IF NOT EXISTS audit_log_alias_idx ON audit_log (alias);
CREATE INDEX IF NOT EXISTS audit_log_upstream_model_idx ON audit_log (upstream_model);
CREATE INDEX IF NOT EXISTS audit_log_session_id_idx ON audit_log (session_id)
"""


def _dialect(conn: object) -> str:
    return "sqlite" if type(conn).__module__.startswith("sqlite3") else "postgresql"


def _has_column(cursor: object, dialect: str, table: str, column: str) -> bool:
    if dialect == "sqlite":
        cursor.execute(f"PRAGMA table_info({table})")  # type: ignore[attr-defined]
        return any(row[1] == column for row in cursor.fetchall())  # type: ignore[attr-defined]
    cursor.execute(  # type: ignore[attr-defined]
        "SELECT 1 FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s AND column_name = %s",
        (table, column),
    )
    return cursor.fetchone() is not None  # type: ignore[attr-defined]


def apply_schema(conn: object) -> None:
    dialect = _dialect(conn)
    cursor = conn.cursor()  # type: ignore[attr-defined]
    for table, column, kind in COLUMNS:
        if not _has_column(cursor, dialect, table, column):
            cursor.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    for statement in INDEXES.split(";"):
        if statement.strip():
            cursor.execute(statement)


steps = [step(apply_schema)]
