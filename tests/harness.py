"""Running the real gateway for tests: a subprocess (`python -m proxy serve`) on a free
loopback port, configured through its own admin API over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from proxy.crypto import generate_fernet_key

from .services import free_port

__all__ = ["AdminClient", "ProxyProcess"]

ADMIN_KEY = "sk-admin-test-0123456789abcdef"
REPO = Path(__file__).resolve().parent.parent


class AdminClient:
    """The admin API, as PRODUCT.md describes it."""

    def __init__(self, base_url: str, token: str = ADMIN_KEY) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
        )

    def close(self) -> None:
        self.http.close()

    def _ok(self, resp: httpx.Response) -> Any:
        if resp.status_code >= 400:
            raise AssertionError(f"admin {resp.request.method} {resp.request.url} -> "
                                 f"{resp.status_code}: {resp.text}")
        return resp.json()

    def provider(self, name: str, provider_type: str, base_url: str = "",
                 keys: list[str] | None = None, **config: Any) -> dict[str, Any]:
        body = {"name": name, "provider_type": provider_type, "base_url": base_url,
                "config": config, "enabled": True}
        created = self._ok(self.http.post("/admin/providers", json=body))
        for i, key in enumerate(keys or ()):
            self.key(created["id"], key, name=f"{name}-key-{i}")
        return created

    def key(self, provider_id: int, key: str, name: str = "key") -> dict[str, Any]:
        return self._ok(self.http.post(
            "/admin/keys", json={"provider_id": provider_id, "name": name, "key": key}))

    def mapping(self, alias: str, provider_id: int, model: str, order: int = 0,
                is_default: bool = False, **config: Any) -> dict[str, Any]:
        return self._ok(self.http.post("/admin/mappings", json={
            "alias_name": alias, "provider_id": provider_id, "provider_model_name": model,
            "order_index": order, "is_default": is_default, "config": config}))

    def client_key(self, name: str = "client", **fields: Any) -> str:
        created = self._ok(self.http.post("/admin/api-keys", json={"name": name, **fields}))
        return str(created["key"])

    def health(self) -> dict[str, Any]:
        return self._ok(self.http.get("/admin/health"))

    def provider_health(self, name: str) -> dict[str, Any]:
        for entry in self.health()["providers"]:
            if entry["name"] == name:
                return dict(entry)
        raise AssertionError(f"provider {name} not in /admin/health")

    def audit_record(self, request_id: str, within: float = 10.0) -> dict[str, Any]:
        """The one audit record of a request (the writer batches: wait for it)."""
        deadline = time.monotonic() + within
        while True:
            data = self._ok(self.http.get("/admin/audit", params={"request_id": request_id}))
            if data["data"]:
                assert len(data["data"]) == 1, data
                return dict(data["data"][0])
            if time.monotonic() > deadline:
                raise AssertionError(f"no audit record for {request_id}")
            time.sleep(0.1)


class ProxyProcess:
    def __init__(self, tmp: Path, env: Mapping[str, str] | None = None,
                 args: tuple[str, ...] = (), port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp
        self.log_path = tmp / f"proxy-{self.port}.log"
        self.env = {
            **os.environ,
            "DATA_DIR": str(tmp / "data"),
            "DATABASE_URL": f"sqlite:///{tmp / 'data' / 'proxy.db'}",
            "SECRET_KEY": "test-secret-key-for-hmac-0123456789",
            "ENCRYPTION_KEY": generate_fernet_key(),
            "ADMIN_API_KEY": ADMIN_KEY,
            "LOG_LEVEL": "INFO",
            "SHUTDOWN_TIMEOUT": "10",
            "CONFIG_POLL_INTERVAL": "0.5",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self._admin: AdminClient | None = None

    def start(self, timeout: float = 20.0) -> ProxyProcess:
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "proxy", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), *self.args],
            cwd=self.tmp, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as probe:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"proxy exited with {self.proc.returncode}:\n{self.logs()}")
                try:
                    if probe.get(self.url + "/readyz").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"proxy did not become ready:\n{self.logs()}")

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(self.url)
        return self._admin

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None  # type: ignore[assignment]

    def __enter__(self) -> ProxyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
