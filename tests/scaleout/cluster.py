"""Several real gateway processes sharing one database, one Redis and one set of secrets.

``Cluster`` starts replicas (``tests.harness.ProxyProcess``) in parallel on their own
ports; ``ScaleAdmin`` adds the admin calls these tests need on top of ``AdminClient``;
``Traffic`` keeps round-robin requests flowing in a thread and records every outcome.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai

from proxy.crypto import generate_fernet_key
from tests.harness import ADMIN_KEY, AdminClient, ProxyProcess

__all__ = ["Cluster", "Outcome", "ScaleAdmin", "Traffic", "sdk", "shared_env"]

USER = [{"role": "user", "content": "hello"}]
SECRET_KEY = "scaleout-secret-key-for-hmac-0123456789"


def shared_env(database_url: str, redis_url: str | None, **extra: str) -> dict[str, str]:
    """What every replica of one deployment must share (PRODUCT.md: replicas share secrets)."""
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "ENCRYPTION_KEY": generate_fernet_key(),
        "ADMIN_API_KEY": ADMIN_KEY,
        "CONFIG_POLL_INTERVAL": "1.0",  # the product default, not the harness's faster one
        "SHUTDOWN_TIMEOUT": "10",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


def sdk(url: str, key: str, timeout: float = 30.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=timeout)


class ScaleAdmin(AdminClient):
    """``AdminClient`` plus the calls that change or delete what it created."""

    def create_client_key(self, name: str = "client", **fields: Any) -> dict[str, Any]:
        created: dict[str, Any] = self._ok(
            self.http.post("/admin/api-keys", json={"name": name, **fields}))
        return created

    def delete_client_key(self, key_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._ok(self.http.delete(f"/admin/api-keys/{key_id}"))
        return result

    def patch_mapping(self, mapping_id: int, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._ok(
            self.http.patch(f"/admin/mappings/{mapping_id}", json=fields))
        return result

    def __enter__(self) -> ScaleAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rotate_encryption(self) -> dict[str, Any]:
        result: dict[str, Any] = self._ok(self.http.post("/admin/encryption/rotate"))
        return result


class Cluster:
    """``n`` replicas with the same environment, each with its own port, data dir and log."""

    def __init__(self, tmp: Path, n: int, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.env = env
        self.replicas = [self._replica(i) for i in range(n)]

    def _replica(self, index: int, port: int | None = None) -> ProxyProcess:
        home = self.tmp / f"replica-{index}"
        home.mkdir(exist_ok=True)
        return ProxyProcess(home, env=self.env, port=port)

    def start(self) -> Cluster:
        with concurrent.futures.ThreadPoolExecutor(len(self.replicas)) as pool:
            futures = [pool.submit(r.start, 30.0) for r in self.replicas]
            errors = [f.exception() for f in futures]
        if any(errors):
            self.stop()
            raise RuntimeError(f"replicas failed to start: {errors}")
        return self

    def restart(self, index: int) -> ProxyProcess:
        """A fresh process on the same port in place of replica ``index`` (stopped first)."""
        old = self.replicas[index]
        old.stop()
        fresh = self._replica(index, port=old.port)
        self.replicas[index] = fresh
        return fresh.start(30.0)

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()

    def logs(self) -> str:
        return "\n".join(f"--- replica {r.port}\n{r.logs()[-4000:]}" for r in self.replicas)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Outcome:
    url: str
    started: float
    elapsed: float
    status: int  # 0 when the request raised before any status
    provider: str | None = None
    error: str | None = None


@dataclass
class Traffic:
    """Sequential chat requests round-robin over ``urls`` in one thread, until stopped."""

    urls: Sequence[str]
    key: str
    model: str
    pause: float = 0.02
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(35.0)
        assert not self._thread.is_alive(), "traffic thread did not stop"

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Block until at least ``count`` requests have completed."""
        until = time.monotonic() + timeout
        while len(self.outcomes) < count:
            assert time.monotonic() < until, f"traffic made {len(self.outcomes)} requests"
            time.sleep(0.02)

    def _run(self) -> None:
        clients = {url: sdk(url, self.key, timeout=10.0) for url in self.urls}
        try:
            for url in itertools.cycle(self.urls):
                if self._stop.is_set():
                    return
                self.outcomes.append(call(clients[url], url, self.model))
                self._stop.wait(self.pause)
        finally:
            for client in clients.values():
                client.close()


def call(client: openai.OpenAI, url: str, model: str,
         messages: list[dict[str, str]] | None = None) -> Outcome:
    started = time.monotonic()
    try:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=messages or USER)  # type: ignore[arg-type]
        raw.parse()
        return Outcome(url, started, time.monotonic() - started, raw.status_code,
                       raw.headers.get("x-proxy-provider"))
    except openai.APIStatusError as exc:
        return Outcome(url, started, time.monotonic() - started, exc.status_code,
                       error=exc.message)
    except openai.APIConnectionError as exc:
        return Outcome(url, started, time.monotonic() - started, 0, error=repr(exc))


def converge(probe: Callable[[str], bool], urls: Sequence[str], since: float,
             deadline: float = 6.0, settle: int = 3) -> dict[str, float]:
    """Seconds from ``since`` until ``probe(url)`` first held on each replica, probing
    round-robin; a replica that flips back afterwards (within ``settle`` more probes)
    fails the check. Replicas that never converge within ``deadline`` are missing."""
    first: dict[str, float] = {}
    stable: dict[str, int] = {}
    until = since + deadline
    for url in itertools.cycle(urls):
        if time.monotonic() > until or all(u in first and stable[u] >= settle for u in urls):
            break
        ok = probe(url)
        if url in first:
            if not ok:
                raise AssertionError(f"{url} reverted to the old configuration after "
                                     f"{first[url]:.3f}s")
            stable[url] += 1
        elif ok:
            first[url] = time.monotonic() - since
            stable[url] = 0
    return first

