"""Everything under ``DATA_DIR`` is private to the proxy's user: the directories it
creates are 0700 at every level, its files 0600 — the generated secrets, the embedded
database (and its WAL files) and the audit payloads holding prompts."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import httpx
import pytest

from tests.harness import ProxyProcess

pytestmark = pytest.mark.timeout(60)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_is_0700_and_its_files_0600(tmp_path: Path) -> None:
    data = tmp_path / "nested" / "data"
    env = {
        "DATA_DIR": str(data), "DATABASE_URL": f"sqlite:///{data / 'proxy.db'}",
        # generated on first start, into DATA_DIR
        "SECRET_KEY": "", "ENCRYPTION_KEY": "", "ADMIN_API_KEY": "",
        "AUDIT_STORE_CONTENT": "true", "AUDIT_INLINE_MAX_BYTES": "16",
    }
    proc = ProxyProcess(tmp_path, env=env)
    with proc:
        admin_key = (data / "admin_api_key").read_text().strip()
        admin = httpx.Client(base_url=proc.url, timeout=10,
                             headers={"Authorization": f"Bearer {admin_key}"})
        with admin:
            mock = admin.post("/admin/providers", json={"name": "mock",
                                                       "provider_type": "mock"}).json()
            admin.post("/admin/mappings", json={"alias_name": "m", "provider_id": mock["id"],
                                                "provider_model_name": "m"})
            reply = httpx.post(proc.url + "/v1/chat/completions", timeout=10,
                               headers={"Authorization": f"Bearer {admin_key}"},
                               json={"model": "m", "messages": [
                                   {"role": "user", "content": "a prompt worth keeping private"}]})
            assert reply.status_code == 200, reply.text
            deadline = time.monotonic() + 10
            while not list((data / "payloads").rglob("*.json")):
                assert time.monotonic() < deadline, "no payload written"
                time.sleep(0.1)
    for directory in (tmp_path / "nested", data, *[p for p in data.rglob("*") if p.is_dir()]):
        assert _mode(directory) == 0o700, directory
    files = [p for p in data.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"proxy.db", "secret_key", "encryption_key", "admin_api_key"} <= names
    assert any(p.suffix == ".json" for p in files)
    for path in files:
        assert _mode(path) == 0o600, path


def test_an_existing_readable_database_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ProxyProcess(tmp_path):
        pass
    db = data / "proxy.db"
    db.chmod(0o644)  # what earlier versions left behind
    with ProxyProcess(tmp_path):
        assert _mode(db) == 0o600
