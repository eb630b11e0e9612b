"""``GET /openapi.json``: a valid OpenAPI 3.1 document covering every ``/v1`` and
``/admin`` route, and the running server fuzzed against it with schemathesis (bounded):
no 5xx, every status, content type and body as the document says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import ADMIN_KEY, ProxyProcess
from tests.services import on_ci

_CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
           "response_schema_conformance")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProxyProcess, str]]:
    proc = ProxyProcess(tmp_path_factory.mktemp("openapi")).start()
    try:
        mock = proc.admin.provider("mock", "mock")
        proc.admin.mapping("gpt-4o-mini", mock["id"], "gpt-4o-mini", is_default=True)
        yield proc, proc.admin.client_key("fuzz")
    finally:
        proc.stop()


def _document(proc: ProxyProcess) -> dict[str, object]:
    resp = httpx.get(proc.url + "/openapi.json", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    return dict(resp.json())


@pytest.mark.timeout(30)
def test_document_is_openapi_3_1_and_covers_every_v1_and_admin_route(
    server: tuple[ProxyProcess, str],
) -> None:
    from openapi_spec_validator import validate

    from proxy.app import build_app
    from proxy.config import Settings

    proc, _ = server
    doc = _document(proc)
    assert doc["openapi"] == "3.1.0"
    validate(doc)
    app = build_app(Settings(secret_key="s" * 32, encryption_key="e" * 32))
    served = set()
    for resource in app.router.resources():
        path = resource.canonical.replace("{model:.+}", "{model}")
        if path.startswith(("/v1", "/admin")):
            for route in resource:
                if route.method != "HEAD":
                    served.add((route.method.lower(), path))
    paths = doc["paths"]
    assert isinstance(paths, dict)
    documented = {(method, path) for path, ops in paths.items() for method in ops}
    missing = served - documented
    assert not missing, f"routes added without openapi.route(): {sorted(missing)}"
    # derived from the validators: the admin body schemas are closed and typed
    providers = paths["/admin/providers"]["post"]["requestBody"]["content"]
    body = providers["application/json"]["schema"]
    assert body["additionalProperties"] is False
    assert set(body["required"]) == {"name", "provider_type"}
    assert body["properties"]["config"]["additionalProperties"] is False
    assert "timeout" in body["properties"]["config"]["properties"]
    chat = paths["/v1/chat/completions"]["post"]["requestBody"]["content"]
    assert chat["application/json"]["schema"]["properties"]["n"]["maximum"] == 128


def _schemathesis(proc: ProxyProcess, key: str, paths: str, examples: int, phases: str,
                  tmp: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("schemathesis") is None and not _importable():
        reason = "schemathesis is not installed (pip install -e '.[dev]')"
        if on_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", proc.url + "/openapi.json",
         "--header", f"Authorization: Bearer {key}", "--include-path-regex", paths,
         "--checks", _CHECKS, "--max-examples", str(examples), "--phases", phases,
         "--workers", "1", "--request-timeout", "10", "--seed", "1", "--no-color"],
        capture_output=True, text=True, timeout=100, cwd=tmp,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )


def _importable() -> bool:
    try:
        import schemathesis  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.timeout(120)
def test_v1_fuzzed_against_the_document(server: tuple[ProxyProcess, str], tmp_path: Path) -> None:
    proc, client_key = server
    result = _schemathesis(proc, client_key, "^/v1/", 5, "coverage,fuzzing", tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
    assert "unhandled error" not in proc.logs()


@pytest.mark.timeout(120)
def test_admin_fuzzed_against_the_document(
    server: tuple[ProxyProcess, str], tmp_path: Path
) -> None:
    proc, _ = server
    result = _schemathesis(proc, ADMIN_KEY, "^/admin/", 4, "fuzzing", tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
    assert "unhandled error" not in proc.logs()
