"""PRODUCT.md "Command line" and "Environment": `check` on a fresh install, and
`.env.example` documenting every variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.test_cli import run
from tests.harness import REPO

pytestmark = pytest.mark.timeout(60)

PRODUCT_VARIABLES = (
    "APP_NAME", "APP_HOST", "APP_PORT", "APP_DEBUG", "LOG_LEVEL", "DATABASE_URL", "REDIS_URL",
    "S3_ENDPOINT_URL", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET", "SECRET_KEY",
    "ENCRYPTION_KEY", "ADMIN_API_KEY", "RATE_LIMIT_GLOBAL_RPM", "RATE_LIMIT_PER_KEY_RPM",
    "RATE_LIMIT_PER_TENANT_RPM", "RATE_LIMIT_PER_IP_RPM", "MAX_REQUEST_BYTES",
    "AUDIT_STORE_CONTENT", "CACHE_MAX_BYTES", "RESPONSES_TTL_DAYS",
    "OTEL_EXPORTER_OTLP_ENDPOINT", "OPENAI_API_KEY",
)


def test_check_on_a_fresh_install_passes_and_says_what_migrates(tmp_path: Path) -> None:
    """`check` validates configuration and connectivity (exit 0/1): a reachable database
    that `serve` will migrate at start is not a failure, and is reported in one line."""
    result = run(tmp_path, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    database = [line for line in result.stdout.splitlines() if line.startswith("database:")]
    assert len(database) == 1 and "not migrated" in database[0], result.stdout


def test_env_example_documents_every_variable_the_settings_read() -> None:
    """'.env.example documents every variable' (the PRODUCT list and every name
    proxy/config.py reads)."""
    example = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    config = (REPO / "proxy" / "config.py").read_text()
    read = set(re.findall(r'env, "([A-Z][A-Z0-9_]+)"', config))
    assert read, "proxy/config.py no longer reads variables as expected by this test"
    missing = (set(PRODUCT_VARIABLES) | read) - documented
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_a_dotenv_file_is_read_and_an_invalid_value_names_the_variable(tmp_path: Path) -> None:
    """'A .env file is read if present'; 'configuration errors exit 2 with one line naming
    the variable'."""
    (tmp_path / ".env").write_text("RATE_LIMIT_PER_IP_RPM=lots\n")
    result = run(tmp_path, "check")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "RATE_LIMIT_PER_IP_RPM" in lines[0], result.stderr


def test_a_kms_entry_without_a_key_id_is_a_configuration_error(tmp_path: Path) -> None:
    """'Configuration errors exit 2 with one line naming the variable' (not exit 1, which
    means a dependency is unreachable)."""
    result = run(tmp_path, "check", env={"ENCRYPTION_KEY": "aws-kms:"})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "ENCRYPTION_KEY" in lines[0], result.stderr
