"""Routing groups: mappings of one alias may share an ``order_index``.

The members of such a group are spread by weight (see ``proxy.routing``), so the unique
constraint on ``(alias_name, order_index)`` gives way to one on the whole member
``(alias_name, order_index, provider_id, provider_model_name)``: the same upstream model
twice in one group is still a clash (409).

PostgreSQL drops the constraint and adds the new one. SQLite cannot drop a table
constraint, so the table is rebuilt under the same name (nothing references it).
Forward-only, and harmless to re-run.
"""

from yoyo import step

__depends__ = {"0001_initial"}

_POSTGRES = [
    "ALTER TABLE model_mappings DROP CONSTRAINT IF EXISTS model_mappings_alias_order_key",
    "ALTER TABLE model_mappings DROP CONSTRAINT IF EXISTS model_mappings_member_key",
    "ALTER TABLE model_mappings ADD CONSTRAINT model_mappings_member_key "
    "UNIQUE (alias_name, order_index, provider_id, provider_model_name)",
]

_SQLITE = [
    "DROP TABLE IF EXISTS model_mappings_new",
    """CREATE TABLE model_mappings_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alias_name TEXT NOT NULL,
    provider_id INTEGER NOT NULL
        CONSTRAINT model_mappings_provider_id_fkey REFERENCES providers (id) ON DELETE CASCADE,
    provider_model_name TEXT NOT NULL,
    order_index INTEGER NOT NULL DEFAULT 0,
    is_default INTEGER NOT NULL DEFAULT FALSE,
    config TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT model_mappings_member_key
        UNIQUE (alias_name, order_index, provider_id, provider_model_name)
)""",
    "INSERT INTO model_mappings_new (id, alias_name, provider_id, provider_model_name, "
    "order_index, is_default, config, created_at, updated_at) "
    "SELECT id, alias_name, provider_id, provider_model_name, order_index, is_default, "
    "config, created_at, updated_at FROM model_mappings",
    "DROP TABLE model_mappings",
    "ALTER TABLE model_mappings_new RENAME TO model_mappings",
    "CREATE INDEX IF NOT EXISTS model_mappings_provider_id_idx ON model_mappings (provider_id)",
]


def _dialect(conn: object) -> str:
    return "sqlite" if type(conn).__module__.startswith("sqlite3") else "postgresql"


def allow_groups(conn: object) -> None:
    cursor = conn.cursor()  # type: ignore[attr-defined]
    if _dialect(conn) == "postgresql":
        for statement in _POSTGRES:
            cursor.execute(statement)
        return
    cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' "
                   "AND name = 'model_mappings'")
    row = cursor.fetchone()
    if row is not None and "model_mappings_member_key" in row[0]:
        return  # already rebuilt
    for statement in _SQLITE:
        cursor.execute(statement)


steps = [step(allow_groups)]
