"""The command line: every subcommand, exit codes, and the one-line configuration errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from proxy.crypto import generate_fernet_key
from tests.harness import ProxyProcess
from tests.services import free_port

pytestmark = pytest.mark.timeout(60)


def run(tmp: Path, *args: str, env: dict[str, str] | None = None,
        module: bool = True) -> subprocess.CompletedProcess[str]:
    base = {**os.environ, "DATA_DIR": str(tmp / "data"),
            "DATABASE_URL": f"sqlite:///{tmp / 'data' / 'proxy.db'}"}
    cmd = [sys.executable, "-m", "proxy", *args] if module else ["openai-proxy", *args]
    return subprocess.run(cmd, cwd=tmp, env={**base, **(env or {})}, capture_output=True,
                          text=True, timeout=45)


@pytest.mark.parametrize(
    ("name", "value"),
    [("APP_PORT", "eighty"), ("LOG_LEVEL", "LOUD"), ("DATABASE_URL", "mysql://x"),
     ("APP_DEBUG", "maybe"), ("REDIS_URL", "http://nope"), ("TRUSTED_PROXIES", "not-an-ip"),
     ("MAX_REQUEST_BYTES", "-5")],
)
def test_invalid_configuration_is_one_line_naming_the_variable(
    tmp_path: Path, name: str, value: str
) -> None:
    result = run(tmp_path, "check", env={name: value})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert name in lines[0]


def test_check_succeeds_on_the_embedded_default_and_fails_without_a_database(
    tmp_path: Path
) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    ok = run(tmp_path, "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "database: ok" in ok.stdout
    down = run(tmp_path, "check", env={
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/nothing",
        "SECRET_KEY": "s" * 32, "ENCRYPTION_KEY": generate_fernet_key(),
        "ADMIN_API_KEY": "a" * 32})
    assert down.returncode == 1
    assert "database: FAILED" in down.stdout


def test_postgres_without_secrets_stops_start_up(tmp_path: Path) -> None:
    result = run(tmp_path, "check", env={
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test"})
    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr and "ENCRYPTION_KEY" in result.stderr


def test_embedded_default_generates_secrets_once_with_mode_0600(tmp_path: Path) -> None:
    first = run(tmp_path, "migrate")
    assert first.returncode == 0
    assert run(tmp_path, "check").returncode == 0
    for name in ("secret_key", "encryption_key", "admin_api_key"):
        path = tmp_path / "data" / name
        assert path.exists()
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    again = run(tmp_path, "create-api-key", "--name", "x")
    assert "Generated" not in again.stderr


def test_console_script_and_module_are_the_same(tmp_path: Path) -> None:
    a = run(tmp_path, "--help", module=True)
    b = run(tmp_path, "--help", module=False)
    assert a.returncode == b.returncode == 0
    for command in ("serve", "migrate", "create-api-key", "rotate-encryption", "check"):
        assert command in a.stdout and command in b.stdout


def test_create_api_key_prints_a_key_that_works(tmp_path: Path) -> None:
    secrets = {"SECRET_KEY": "secret-" + "k" * 30, "ENCRYPTION_KEY": generate_fernet_key()}
    proc = ProxyProcess(tmp_path, env=secrets).start()
    try:
        mock = proc.admin.provider("mock", "mock")
        proc.admin.mapping("m", mock["id"], "m")
        result = run(tmp_path, "create-api-key", "--name", "cli", "--tenant", "t",
                     "--rpm", "100", env=secrets)
        assert result.returncode == 0, result.stderr
        key = result.stdout.strip()
        assert key.startswith("sk-proxy-") and "\n" not in key
        assert key not in result.stderr
        with openai.OpenAI(base_url=proc.url + "/v1", api_key=key, max_retries=0) as client:
            # the new key reaches the running server through the config version check
            deadline = time.monotonic() + 5
            while True:
                try:
                    client.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": "hi"}])
                    break
                except openai.AuthenticationError:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
        listed = proc.admin.http.get("/admin/api-keys").json()["data"]
        assert any(k["name"] == "cli" and k["tenant"] == "t" and k["rpm_limit"] == 100
                   for k in listed)
    finally:
        proc.stop()


def test_first_admin_script_creates_a_working_admin_key(tmp_path: Path) -> None:
    secrets = {"SECRET_KEY": "secret-" + "k" * 30, "ENCRYPTION_KEY": generate_fernet_key()}
    script = Path(__file__).resolve().parents[2] / "scripts" / "create-admin-key"
    env = {**os.environ, **secrets, "DATA_DIR": str(tmp_path / "data"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'proxy.db'}"}
    result = subprocess.run([str(script), "ops", "platform"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=45)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    proc = ProxyProcess(tmp_path, env=secrets).start()
    try:
        import httpx

        listed = httpx.get(proc.url + "/admin/api-keys",
                           headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert listed.status_code == 200
        assert any(k["name"] == "ops" and k["is_admin"] and k["tenant"] == "platform"
                   for k in listed.json()["data"])
    finally:
        proc.stop()


def test_check_probes_every_provider_with_its_keys(tmp_path: Path) -> None:
    from tests.fakes import FakeUpstream

    secrets = {"SECRET_KEY": "secret-" + "k" * 30, "ENCRYPTION_KEY": generate_fernet_key()}
    with FakeUpstream("openai", keys={"sk-good-openai-1"}) as oa, \
            FakeUpstream("anthropic", keys={"sk-good-claude-1"}) as an, \
            FakeUpstream("ollama") as ol:
        proc = ProxyProcess(tmp_path, env=secrets).start()
        try:
            admin = proc.admin
            admin.provider("oa", "openai", oa.base_url, keys=["sk-good-openai-1"])
            admin.provider("an", "anthropic", an.base_url, keys=["sk-good-claude-1"])
            admin.provider("ol", "ollama", ol.base_url)
            admin.provider("mock", "mock")
            bad = admin.provider("oa-bad", "openai", oa.base_url, keys=["sk-revoked-999"])
        finally:
            proc.stop()
        failing = run(tmp_path, "check", env=secrets)
        assert failing.returncode == 1, failing.stdout
        lines = set(failing.stdout.splitlines())
        assert "provider mock: ok (in-process)" in lines, failing.stdout
        for name in ("oa", "an"):
            assert any(line.startswith(f"provider {name}: ok (") for line in lines), lines
        assert any(line.startswith("provider ol: ok") for line in lines), failing.stdout
        assert "provider oa-bad: FAILED (HTTP 401)" in lines
        assert "sk-revoked-999" not in failing.stdout + failing.stderr
        proc = ProxyProcess(tmp_path, env=secrets).start()
        try:
            proc.admin.http.delete(f"/admin/providers/{bad['id']}").raise_for_status()
        finally:
            proc.stop()
        passing = run(tmp_path, "check", env=secrets)
        assert passing.returncode == 0, passing.stdout
