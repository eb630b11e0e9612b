"""Codex (`@openai/codex`) through the gateway's Responses API, non-interactively.

Codex is configured with a model provider whose ``base_url`` is the gateway and
``wire_api = "responses"``; it sends what it always sends (``store: false``, item ids,
``reasoning``, ``include``, developer messages, a ``namespace`` tool and the built-in
``web_search``). The fake upstream answers a prompt, and, asked to, calls Codex's own
shell tool, which Codex runs in its sandbox (workspace writes only, no network).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.services import on_ci

from .conftest import Gateway

pytestmark = pytest.mark.timeout(300)


def _codex() -> str:
    """The ``codex`` binary, installed from npm when missing (a failure fails on CI)."""
    found = shutil.which("codex")
    if found is None and shutil.which("npm") is not None:
        subprocess.run(["npm", "install", "-g", "@openai/codex"], check=False, timeout=240,
                       capture_output=True)
        found = shutil.which("codex")
    if found is None:
        reason = "codex (npm @openai/codex) is not installed and could not be installed"
        if on_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _run(gateway: Gateway, tmp_path: Path, model: str, prompt: str
         ) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'model = "{model}"\n'
        'model_provider = "gateway"\n'
        "[model_providers.gateway]\n"
        'name = "openai-proxy"\n'
        f'base_url = "{gateway.url}/v1"\n'
        'wire_api = "responses"\n'
        'env_key = "GATEWAY_KEY"\n'
    )
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "CODEX_HOME": str(home), "GATEWAY_KEY": gateway.key}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run(
        [_codex(), "exec", "--skip-git-repo-check", "--sandbox", "workspace-write", prompt],
        cwd=work, env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )


def test_codex_answers_a_prompt_through_the_gateway(gateway: Gateway, tmp_path: Path) -> None:
    fake = gateway.fakes["r-anthropic"]
    before = len(fake.requests)
    done = _run(gateway, tmp_path, "r-anthropic", "greetings from the gateway")
    assert done.returncode == 0, done.stderr[-3000:]
    # Codex's user turns reach Anthropic as one turn; the fake's answer to it is 12 words
    assert "word0 word1" in done.stdout and "word11" in done.stdout
    sent = [r.json for r in fake.requests[before:] if r.path.endswith("/messages")]
    assert sent and "greetings from the gateway" in json.dumps(sent[0]["messages"])
    assert sent[0]["system"]  # Codex's developer messages became the system prompt


def test_codex_runs_its_shell_tool_when_the_model_asks(gateway: Gateway,
                                                       tmp_path: Path) -> None:
    fake = gateway.fakes["r-openai"]
    before = len(fake.requests)
    command = {"cmd": "echo codex-was-here > proof.txt"}
    done = _run(gateway, tmp_path, "r-openai", f"call tool with {json.dumps(command)}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "work" / "proof.txt").read_text().strip() == "codex-was-here"
    sent = [r.json for r in fake.requests[before:] if r.path.endswith("/chat/completions")]
    assert len(sent) >= 2
    first, last = sent[0], sent[-1]
    names = [t["function"]["name"] for t in first["tools"]]
    assert "exec_command" in names  # Codex's function tools went upstream ...
    assert all(t["type"] == "function" for t in first["tools"])  # ... its built-ins did not
    assert first["messages"][0]["role"] == "system"  # developer messages
    assert last["messages"][-1]["role"] == "tool"  # the command's output came back
