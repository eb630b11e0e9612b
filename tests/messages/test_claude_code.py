"""Claude Code itself (``claude -p``, headless) through the gateway, from the fake
upstreams: natively to an ``anthropic`` provider and translated to an ``openai`` one, and
running one of its own tools (``Read``) when the upstream asks for it.

The CLI is installed from npm when missing; on CI a failed install fails the test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess
from tests.services import on_ci

pytestmark = pytest.mark.timeout(240)

PACKAGE = "@anthropic-ai/claude-code"
DEFAULT_ANSWER = " ".join(f"word{i}" for i in range(12))


@pytest.fixture(scope="module")
def claude() -> str:
    found = shutil.which("claude")
    if found is None and shutil.which("npm"):
        subprocess.run(["npm", "install", "-g", PACKAGE], capture_output=True, timeout=600,
                       check=False)
        found = shutil.which("claude")
    if found is None:
        if on_ci():
            pytest.fail(f"Claude Code ({PACKAGE}) could not be installed with npm")
        pytest.skip(f"Claude Code ({PACKAGE}) is not installed and npm could not install it")
    return found


def _run(claude: str, gateway: ProxyProcess, key: str, model: str, prompt: str,
         home: Path, *tools: str) -> dict[str, Any]:
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))},
        "ANTHROPIC_BASE_URL": gateway.url,
        "ANTHROPIC_API_KEY": key,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "HOME": str(home),
    }
    args = [claude, "-p", prompt, "--output-format", "json"]
    if tools:
        args += ["--allowedTools", ",".join(tools)]
    done = subprocess.run(args, env=env, cwd=home, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, f"claude exited {done.returncode}: {done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["is_error"] is False, result
    return result


def _messages_calls(fake: FakeUpstream, path: str) -> list[Any]:
    return [r for r in fake.requests if r.path == path]


def test_claude_code_native_to_anthropic(claude: str, m_gateway: ProxyProcess, key: str,
                                         fakes: dict[str, FakeUpstream],
                                         tmp_path: Path) -> None:
    result = _run(claude, m_gateway, key, "claude", "say something", tmp_path / "home")
    assert result["result"] == DEFAULT_ANSWER
    calls = _messages_calls(fakes["anthropic"], "/v1/messages")
    assert calls, "Claude Code reached the upstream through the gateway"
    seen = calls[-1]
    assert "claude-code-20250219" in seen.headers["anthropic-beta"]
    assert seen.json["model"] == "claude-sonnet-4-5"
    assert seen.json["stream"] is True
    assert "thinking" in seen.json  # passed through as Claude Code sent it
    # cache usage of the native answer reached Claude Code unchanged
    assert result["usage"]["cache_read_input_tokens"] > 0
    _audited_session(m_gateway, result["session_id"])


def test_claude_code_translated_to_openai(claude: str, m_gateway: ProxyProcess, key: str,
                                          fakes: dict[str, FakeUpstream],
                                          tmp_path: Path) -> None:
    result = _run(claude, m_gateway, key, "gpt", "say something", tmp_path / "home")
    assert result["result"] == DEFAULT_ANSWER
    seen = _messages_calls(fakes["openai"], "/v1/chat/completions")[-1].json
    assert seen["model"] == "gpt-4o-mini"
    assert seen["messages"][0]["role"] == "system"
    assert "thinking" not in seen and "context_management" not in seen
    assert {t["function"]["name"] for t in seen["tools"]} >= {"Bash", "Read"}


@pytest.mark.parametrize("model", ["claude", "gpt"])
def test_claude_code_runs_its_read_tool(claude: str, m_gateway: ProxyProcess, key: str,
                                        fakes: dict[str, FakeUpstream], tmp_path: Path,
                                        model: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    marker = home / "marker.txt"
    marker.write_text("MARKER-7f3a-from-disk\n")
    prompt = "call tool Read " + json.dumps({"file_path": str(marker)})
    result = _run(claude, m_gateway, key, model, prompt, home, "Read")
    assert result["num_turns"] >= 2
    fake = fakes["anthropic" if model == "claude" else "openai"]
    path = "/v1/messages" if model == "claude" else "/v1/chat/completions"
    bodies = json.dumps([r.json for r in _messages_calls(fake, path)])
    # the tool's output (the file's content) went back upstream in the next turn
    assert "MARKER-7f3a-from-disk" in bodies
    assert result["result"] == DEFAULT_ANSWER


def _audited_session(gateway: ProxyProcess, session_id: str) -> None:
    deadline = time.monotonic() + 10
    rows: list[Any] = []
    while time.monotonic() < deadline:
        resp = httpx.get(gateway.url + "/admin/audit", params={"session_id": session_id},
                         headers={"Authorization": "Bearer sk-admin-test-0123456789abcdef"},
                         timeout=5)
        rows = resp.json()["data"] if resp.status_code == 200 else []
        if rows:
            break
        time.sleep(0.2)
    assert rows and all(r["endpoint"].startswith("/v1/messages") for r in rows)
    assert rows[0]["session_id"] == session_id
