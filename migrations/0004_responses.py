"""Stored Responses API objects (``POST /v1/responses`` with ``store``).

One row per response: its scope (the client key's tenant, or ``key:<id>`` for keys
without one), the response it continues, its own input items and the response object
(both JSON text), and when it expires (``RESPONSES_TTL_DAYS``). A conversation is the
chain of ``previous_response_id`` links, read with one recursive query.
"""

from yoyo import step

__depends__ = {"0001_initial"}

TYPES = {
    "postgresql": {"ts": "TIMESTAMPTZ"},
    "sqlite": {"ts": "TEXT"},
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    previous_response_id TEXT,
    created_at {ts} NOT NULL,
    expires_at {ts} NOT NULL,
    input_items TEXT NOT NULL,
    response TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_expires_at_idx ON responses (expires_at)
"""


def _dialect(conn: object) -> str:
    return "sqlite" if type(conn).__module__.startswith("sqlite3") else "postgresql"


def apply_schema(conn: object) -> None:
    statements = SCHEMA.format(**TYPES[_dialect(conn)]).split(";")
    cursor = conn.cursor()  # type: ignore[attr-defined]
    for statement in statements:
        if statement.strip():
            cursor.execute(statement)


steps = [step(apply_schema)]
