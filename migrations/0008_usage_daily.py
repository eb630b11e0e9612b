"""Usage per UTC day: the same sums as ``usage_hourly`` (0003), one row per day and
(api key, tenant, alias, provider, model), so ``/admin/usage`` over months reads a few
thousand rows. Upserted in the audit writer's batch with the hourly one; filled once here
from the hourly rollup. Forward-only and re-runnable."""

from yoyo import step

__depends__ = {"0003_spend"}

TYPES = {"postgresql": {"int": "BIGINT"}, "sqlite": {"int": "INTEGER"}}

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_daily (
    day {int} NOT NULL,
    api_key_id {int} NOT NULL DEFAULT 0,
    tenant TEXT NOT NULL DEFAULT '',
    alias TEXT NOT NULL DEFAULT '',
    provider TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    requests {int} NOT NULL DEFAULT 0,
    input_tokens {int} NOT NULL DEFAULT 0,
    output_tokens {int} NOT NULL DEFAULT 0,
    cost_nanos {int} NOT NULL DEFAULT 0,
    PRIMARY KEY (day, api_key_id, tenant, alias, provider, model)
);
INSERT INTO usage_daily (day, api_key_id, tenant, alias, provider, model, requests,
    input_tokens, output_tokens, cost_nanos)
SELECT hour / 24, api_key_id, tenant, alias, provider, model, SUM(requests),
    SUM(input_tokens), SUM(output_tokens), SUM(cost_nanos)
FROM usage_hourly
WHERE NOT EXISTS (SELECT 1 FROM usage_daily)
GROUP BY 1, 2, 3, 4, 5, 6
"""


def _dialect(conn: object) -> str:
    return "sqlite" if type(conn).__module__.startswith("sqlite3") else "postgresql"


def apply_schema(conn: object) -> None:
    cursor = conn.cursor()  # type: ignore[attr-defined]
    for statement in SCHEMA.format(**TYPES[_dialect(conn)]).split(";"):
        if statement.strip():
            cursor.execute(statement)


steps = [step(apply_schema)]
