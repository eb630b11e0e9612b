"""``serve --demo``: loopback unless a host is given; a later start with OPENAI_API_KEY
puts the real provider in front of the mock in the demo chains."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.harness import ADMIN_KEY
from tests.services import free_port

pytestmark = pytest.mark.timeout(60)


class Demo:
    def __init__(self, tmp: Path, env: dict[str, str], *args: str) -> None:
        self.port = free_port()
        self.log = tmp / f"demo-{self.port}.log"
        inherited = {k: v for k, v in os.environ.items()
                     if k not in ("APP_HOST", "OPENAI_API_KEY", "DATABASE_URL")}
        full = {**inherited, "DATA_DIR": str(tmp / "data"), "ADMIN_API_KEY": ADMIN_KEY,
                "PYTHONUNBUFFERED": "1", **env}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "proxy", "serve", "--demo", "--port", str(self.port),
                 *args], cwd=tmp, env=full, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(self.log.read_text())

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(x) for x in self.log.read_text().splitlines() if x.startswith("{")]

    def admin(self, path: str) -> object:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5,
                         headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(20)


def test_demo_listens_on_loopback_unless_a_host_is_given(tmp_path: Path) -> None:
    demo = Demo(tmp_path, {})
    try:
        listening = next(x for x in demo.lines() if x["message"] == "listening")
        assert listening["host"] == "127.0.0.1"
        assert any("loopback only" in str(x["message"]) for x in demo.lines())
    finally:
        demo.stop()
    chosen = Demo(tmp_path, {"APP_HOST": "0.0.0.0"})
    try:
        listening = next(x for x in chosen.lines() if x["message"] == "listening")
        assert listening["host"] == "0.0.0.0"
    finally:
        chosen.stop()


def test_openai_key_on_a_later_start_leads_the_demo_chains(tmp_path: Path) -> None:
    offline = Demo(tmp_path, {})
    offline.stop()
    online = Demo(tmp_path, {"OPENAI_API_KEY": "sk-demo-test-0123456789"})
    try:
        providers = {p["id"]: p["name"] for p in online.admin("/admin/providers")["data"]}
        mappings = online.admin("/admin/mappings")["data"]
        for alias in ("gpt-4o-mini", "text-embedding-3-small"):
            chain = [providers[m["provider_id"]]
                     for m in sorted(mappings, key=lambda m: m["order_index"])
                     if m["alias_name"] == alias]
            assert chain == ["openai", "mock"], (alias, chain)
        keys = online.admin("/admin/keys")["data"]
        assert [k["key_masked"] for k in keys] == ["****6789"]
    finally:
        online.stop()
    again = Demo(tmp_path, {"OPENAI_API_KEY": "sk-demo-test-0123456789"})
    try:
        mappings = again.admin("/admin/mappings")["data"]
        assert len([m for m in mappings if m["alias_name"] == "gpt-4o-mini"]) == 2
    finally:
        again.stop()
