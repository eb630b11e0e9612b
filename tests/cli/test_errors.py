"""Start-up and one-shot failures: one line, no traceback; exit 2 for configuration,
1 for a dependency that cannot be reached. Plus --version and clean --help."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.crypto import generate_fernet_key
from tests.cli.test_cli import run
from tests.harness import ADMIN_KEY, ProxyProcess
from tests.services import free_port

pytestmark = pytest.mark.timeout(60)

SECRETS = {"SECRET_KEY": "s" * 32, "ENCRYPTION_KEY": generate_fernet_key(),
           "ADMIN_API_KEY": ADMIN_KEY}


def _one_line(text: str) -> str:
    """The one line meant for the operator (JSON log lines written before it aside)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("{")]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (("serve", "--port", "99999"), {}, "--port"),
        (("serve", "--port", "0"), {}, "--port"),
        (("serve", "--port", "http"), {}, "--port"),
        (("serve",), {"APP_PORT": "70000"}, "APP_PORT"),
        (("serve", "--workers", "0"), {}, "--workers"),
        (("serve",), {"DATABASE_URL": "sqlite://"}, "DATABASE_URL"),
        (("serve",), {"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432"}, "DATABASE_URL"),
        (("migrate",), {"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL"),
        (("create-api-key", "--expires", "next week"), {}, "--expires"),
    ],
)
def test_configuration_errors_are_one_line_naming_it_exit_2(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], named: str
) -> None:
    result = run(tmp_path, *args, env={**SECRETS, **env})
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in _one_line(result.stderr)


@pytest.mark.parametrize("command", ["serve", "migrate", "create-api-key"])
def test_unreachable_postgres_is_one_line_with_the_address_exit_1(
    tmp_path: Path, command: str
) -> None:
    port = free_port()
    url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/gateway"
    result = run(tmp_path, command, env={**SECRETS, "DATABASE_URL": url})
    assert result.returncode == 1, result.stdout + result.stderr
    line = _one_line(result.stderr)
    assert f"127.0.0.1:{port}/gateway" in line and "refused" in line.lower(), line
    assert "hunter2" not in result.stderr


def test_a_port_in_use_is_one_line_exit_1(tmp_path: Path) -> None:
    proc = ProxyProcess(tmp_path / "first").start()
    try:
        result = run(tmp_path, "serve", "--host", "127.0.0.1", "--port", str(proc.port),
                     env=SECRETS)
        assert result.returncode == 1
        line = _one_line(result.stderr)
        assert f"127.0.0.1:{proc.port}" in line
    finally:
        proc.stop()


def test_check_names_the_address_and_the_message(tmp_path: Path) -> None:
    pg_port, redis_port = free_port(), free_port()
    down = run(tmp_path, "check", env={
        **SECRETS, "DATABASE_URL": f"postgresql://postgres:pw@127.0.0.1:{pg_port}/x"})
    assert down.returncode == 1
    line = next(x for x in down.stdout.splitlines() if x.startswith("database:"))
    assert f"127.0.0.1:{pg_port}/x" in line and "refused" in line.lower(), line
    assert "StoreUnavailable" not in down.stdout and ":pw@" not in down.stdout
    assert run(tmp_path, "migrate").returncode == 0
    redis = run(tmp_path, "check", env={"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"})
    assert redis.returncode == 1
    line = next(x for x in redis.stdout.splitlines() if x.startswith("redis:"))
    assert f"127.0.0.1:{redis_port}" in line and "refused" in line.lower(), line


def test_rotate_encryption_with_a_wrong_key_is_one_line(tmp_path: Path) -> None:
    right = {**SECRETS}
    proc = ProxyProcess(tmp_path, env=right).start()
    try:
        proc.admin.provider("oa", "openai", "http://127.0.0.1:9/v1", keys=["sk-upstream-1234"])
    finally:
        proc.stop()
    wrong = {**right, "ENCRYPTION_KEY": generate_fernet_key()}
    result = run(tmp_path, "rotate-encryption", env=wrong)
    assert result.returncode == 2
    assert "ENCRYPTION_KEY" in _one_line(result.stderr)
    both = {**right, "ENCRYPTION_KEY": f"{generate_fernet_key()},{right['ENCRYPTION_KEY']}"}
    ok = run(tmp_path, "rotate-encryption", env=both)
    assert ok.returncode == 0, ok.stderr
    assert "re-encrypted 1 provider key(s)" in ok.stdout


def test_version_and_help_are_clean(tmp_path: Path) -> None:
    from importlib.metadata import version

    shown = run(tmp_path, "--version")
    assert shown.returncode == 0
    assert shown.stdout.strip() == f"openai-proxy {version('openai-proxy')}"
    top = run(tmp_path, "--help")
    assert top.returncode == 0
    assert "``" not in top.stdout and ":class:" not in top.stdout
    for command in ("serve", "migrate", "create-api-key", "rotate-encryption", "check",
                    "apply", "export"):
        assert command in top.stdout
    serve = run(tmp_path, "serve", "--help")
    assert serve.returncode == 0
    flat = " ".join(serve.stdout.split())
    for flag, variable in (("--host", "APP_HOST"), ("--port", "APP_PORT"),
                           ("--workers", "APP_WORKERS")):
        assert flag in flat and f"overrides {variable}" in flat
