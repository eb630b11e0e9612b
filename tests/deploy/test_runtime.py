"""The real proxy under the image's runtime environment: the Dockerfile's ENV (paths
remapped to a temporary directory and the repository's migrations), a working directory
outside the source tree, the HEALTHCHECK and compose healthcheck commands, the metrics the
dashboard and alerts are built on, and a clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.deploy.contract import ALLOWED_SERIES, REPO
from tests.deploy.dockerfile import exec_form, read_stages
from tests.services import free_port

DEMO_KEY = "mock-api-key-123"


def _image_env(data_dir: Path, port: int) -> dict[str, str]:
    runtime = read_stages(REPO / "Dockerfile")[1][-1]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("APP_", "DATABASE_", "REDIS_", "S3_"))
    }
    for args in runtime.all("ENV"):
        for name, value in re.findall(r"(\w+)=(\S+)", args):
            if "$" not in value:
                env[name] = value
    assert env["DATA_DIR"] == "/app/data" and env["MIGRATIONS_DIR"] == "/app/migrations"
    env.update(
        DATA_DIR=str(data_dir),
        MIGRATIONS_DIR=str(REPO / "migrations"),
        APP_PORT=str(port),
        APP_HOST="127.0.0.1",
        PYTHONPATH=str(REPO),
        SHUTDOWN_TIMEOUT="5",
    )
    env.pop("OPENAI_API_KEY", None)
    return env


async def _wait_ready(
    session: aiohttp.ClientSession, base: str, proc: asyncio.subprocess.Process
) -> None:
    async with asyncio.timeout(30):
        while True:
            if proc.returncode is not None:
                raise AssertionError(f"proxy exited with {proc.returncode}")
            try:
                async with session.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)


@pytest.fixture
async def image_like_proxy(
    tmp_path: Path,
) -> AsyncIterator[tuple[str, dict[str, str], asyncio.subprocess.Process]]:
    port = free_port()
    env = _image_env(tmp_path / "data", port)
    workdir = tmp_path / "app"
    workdir.mkdir()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "proxy",
        "serve",
        "--demo",
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}", env, proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _run(command: list[str], env: dict[str, str]) -> int:
    proc = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        return await asyncio.wait_for(proc.wait(), timeout=15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.timeout(90)
async def test_image_environment_serves_probes_metrics_and_stops_on_sigterm(
    image_like_proxy: tuple[str, dict[str, str], asyncio.subprocess.Process], tmp_path: Path
) -> None:
    base, env, proc = image_like_proxy
    port = env["APP_PORT"]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await _wait_ready(session, base, proc)
        assert (tmp_path / "data" / "proxy.db").is_file(), "SQLite must live in DATA_DIR"

        # the Dockerfile HEALTHCHECK and the compose healthcheck, run as written
        healthcheck = read_stages(REPO / "Dockerfile")[1][-1].last("HEALTHCHECK") or ""
        command = exec_form(healthcheck.partition(" CMD ")[2].strip())
        assert await _run([sys.executable, *command[1:]], env) == 0
        compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
        compose_check = [
            a.replace(":8000/", f":{port}/")
            for a in compose["services"]["proxy"]["healthcheck"]["test"][1:]
        ]
        assert compose_check[0] == "python"
        assert await _run([sys.executable, *compose_check[1:]], env) == 0

        body = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hello"}]}
        headers = {"Authorization": f"Bearer {DEMO_KEY}"}
        async with session.post(
            f"{base}/v1/chat/completions", json=body, headers=headers
        ) as response:
            assert response.status == 200, await response.text()
        stream = {**body, "stream": True}
        async with session.post(
            f"{base}/v1/chat/completions", json=stream, headers=headers
        ) as response:
            assert response.status == 200
            assert (await response.text()).rstrip().endswith("data: [DONE]")
        async with session.get(f"{base}/metrics") as response:
            assert response.status == 200
            text = await response.text()

    exported = set(re.findall(r"^(proxy_\w+?)(?:\{| )", text, re.M))
    assert {
        "proxy_requests_total",
        "proxy_request_duration_seconds_bucket",
        "proxy_provider_requests_total",
        "proxy_circuit_state",
        "proxy_inbox_depth",
    } <= exported
    unknown = exported - ALLOWED_SERIES
    assert not unknown, f"exported but unknown to the dashboard/alerts contract: {unknown}"

    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), timeout=30) == 0
