"""docker-compose.yml: the full stack's services, healthchecks, start order, the proxy's
configuration, and `docker-compose config` when a compose CLI is installed (it needs no
Docker engine)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.contract import REPO, SECRET_ENV

COMPOSE = REPO / "docker-compose.yml"
CORE = ("proxy", "postgres", "redis", "minio")
SHUTDOWN_TIMEOUT = 25
CLEANUP_SECONDS = 10  # background tasks and supervisors, 5 s each (proxy/app.py)


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _services() -> dict[str, Any]:
    return _compose()["services"]


def _seconds(duration: str) -> float:
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration):
        total += float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


@pytest.mark.timeout(10)
def test_stack_has_the_proxy_and_its_backing_services_with_pinned_images() -> None:
    services = _services()
    assert set(CORE) | {"migrate", "createbucket"} <= set(services)
    for name, service in services.items():
        image = service.get("image", "")
        assert image, f"{name} has no image"
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["proxy"]["build"]["dockerfile"] == "Dockerfile"


@pytest.mark.timeout(10)
def test_long_running_services_have_healthchecks_and_persistent_volumes() -> None:
    services = _compose()["services"]
    declared_volumes = set(_compose()["volumes"])
    for name in (*CORE, "prometheus", "grafana"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert _seconds(check["interval"]) > 0 and check["retries"] >= 3, name
    for name in ("postgres", "redis", "minio", "proxy"):
        named = {v.split(":")[0] for v in services[name]["volumes"]}
        assert named & declared_volumes, f"{name} keeps its data in a named volume"
    assert "/readyz" in " ".join(services["proxy"]["healthcheck"]["test"])


@pytest.mark.timeout(10)
def test_depends_on_waits_for_healthy_or_completed_services() -> None:
    services = _services()
    proxy_deps = services["proxy"]["depends_on"]
    for name in ("postgres", "redis", "minio"):
        assert proxy_deps[name]["condition"] == "service_healthy"
    assert proxy_deps["migrate"]["condition"] == "service_completed_successfully"
    for name, service in services.items():
        for dep, spec in service.get("depends_on", {}).items():
            assert isinstance(spec, dict), f"{name} -> {dep}: use the long form with a condition"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits on {dep} without healthcheck"
            if spec["condition"] == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} must be one-shot"


@pytest.mark.timeout(10)
def test_proxy_reads_dotenv_and_points_at_the_stack_services() -> None:
    services = _services()
    for name in ("proxy", "migrate"):
        service = services[name]
        assert service["env_file"] == ".env"
        env = service["environment"]
        assert (
            env["DATABASE_URL"].startswith("postgresql://")
            and "@postgres:5432/" in env["DATABASE_URL"]
        )
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["S3_ENDPOINT_URL"] == "http://minio:9000"
        for secret in SECRET_ENV:
            assert env[secret] == f"${{{secret}:?set {secret} in .env (see .env.example)}}"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["proxy"]["command"] == ["serve"]
    proxy = services["proxy"]
    assert proxy["stop_signal"] == "SIGTERM"
    assert _seconds(proxy["stop_grace_period"]) >= SHUTDOWN_TIMEOUT + CLEANUP_SECONDS
    assert any(str(p).endswith(":8000") for p in proxy["ports"])


@pytest.mark.timeout(10)
def test_monitoring_profile_mounts_the_repository_files() -> None:
    services = _services()
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
    for name in CORE:
        assert "profiles" not in services[name], f"{name} must start without a profile"


def _compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=20, check=False
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def _stack_copy(tmp_path: Path) -> Path:
    for path in ("docker-compose.yml", ".env.example", "prometheus", "grafana"):
        src = REPO / path
        if src.is_dir():
            shutil.copytree(src, tmp_path / path)
        else:
            shutil.copy2(src, tmp_path / path)
    return tmp_path


def _config(cli: list[str], project: Path, env_lines: str) -> subprocess.CompletedProcess[str]:
    (project / ".env").write_text(env_lines)
    return subprocess.run(
        [
            *cli,
            "--project-directory",
            str(project),
            "-f",
            str(project / "docker-compose.yml"),
            "--profile",
            "monitoring",
            "config",
        ],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(project)},
    )


@pytest.mark.timeout(60)
def test_compose_cli_accepts_the_file_and_demands_the_secrets(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no docker compose CLI installed (apt-get install docker-compose)")
    project = _stack_copy(tmp_path)
    example = (project / ".env.example").read_text()
    missing = _config(cli, project, example)
    assert missing.returncode != 0
    assert "SECRET_KEY" in missing.stderr + missing.stdout
    secrets = "".join(f"{name}=test-{name.lower()}\n" for name in SECRET_ENV)
    ok = _config(cli, project, example + secrets)
    assert ok.returncode == 0, ok.stderr
    rendered = yaml.safe_load(ok.stdout)
    assert set(rendered["services"]) >= {*CORE, "migrate", "createbucket", "prometheus", "grafana"}
    assert rendered["services"]["proxy"]["environment"]["SECRET_KEY"] == "test-secret_key"
