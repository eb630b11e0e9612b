"""The processes under test: start pinned to a core, wait until ready, read CPU and RSS
from ``/proc``, stop. Also seeds the gateway's store before it starts."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["Proc", "cores", "cpu_seconds", "get", "rss_bytes", "seed_gateway", "system_busy",
           "tree_cpu_seconds"]

_TICK = os.sysconf("SC_CLK_TCK")


def cores() -> tuple[int | None, int | None]:
    """(core for the upstream and load generator, core for the process under test), or
    (None, None) when there are fewer than two CPUs or no ``taskset``."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2 or shutil.which("taskset") is None:
        return None, None
    return allowed[0], allowed[1]


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and all its live descendants (``serve --workers N``)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += cpu_seconds(current)
        except OSError:
            continue
        todo.extend(children.get(current, ()))
    return total


def system_busy() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, steal seconds) since boot, from /proc/stat."""
    with open("/proc/stat", "rb") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / _TICK, steal / _TICK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """A tiny blocking HTTP GET on 127.0.0.1 (readiness checks, /metrics)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                  % path.encode())
        raw = b""
        length: int | None = None
        while True:
            data = s.recv(65536)
            raw += data
            head, sep, body = raw.partition(b"\r\n\r\n")
            if sep and length is None:
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
            if not data or (length is not None and len(body) >= length):
                break
    if not sep:
        raise ConnectionError(f"no HTTP response from 127.0.0.1:{port}{path}")
    return int(head.split(b" ", 2)[1]), body


class Proc:
    def __init__(self, name: str, cmd: list[str], *, env: dict[str, str], cwd: Path,
                 log: Path, core: int | str | None) -> None:
        """``core``: a CPU number or a ``taskset -c`` list ("0,1"); None: inherit ours."""
        self.name = name
        self.cmd = (["taskset", "-c", str(core)] + cmd) if core is not None else cmd
        self.env, self.cwd, self.log_path = env, cwd, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, port: int, ready_path: str, timeout: float = 30.0) -> Proc:
        """Start and wait until ``GET ready_path`` answers 200; stops it on failure."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: "
                                       f"{shlex.join(self.cmd)}\n{self.logs()[-3000:]}")
                try:
                    if get(port, ready_path, timeout=1.0)[0] == 200:
                        return self
                except (OSError, ValueError, IndexError):
                    pass
                time.sleep(0.05)
            raise RuntimeError(f"{self.name} not ready after {timeout} s\n{self.logs()[-3000:]}")
        except BaseException:
            self.stop()
            raise

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


async def seed_gateway(database_url: str, encryption_key: str, secret_key: str, *,
                       upstream_base: str, upstream_key: str, client_key: str,
                       models: list[str], max_concurrency: int,
                       tpm_limit: int | None = 1_000_000_000_000,
                       budget_usd: float | None = None) -> int:
    """Write the bench configuration straight into the store (as ``serve --demo`` does):
    one ``openai`` provider on the fake, its key, one alias per model (alias = upstream
    model name, so direct and proxied requests carry the same body), an ``anthropic``
    provider on the same fake (``bench-anthropic/<model>``, for the Messages phase), one
    client key
    (``tpm_limit`` None: no token check; ``budget_usd``: its monthly budget). Every alias
    has a ``config.pricing`` so costs are computed as for a priced model. Returns the client
    key's id."""
    import asyncio

    from proxy.crypto import KeyRing, client_key_prefix, hash_client_key, key_last4
    from proxy.store import apply_migrations, open_store

    await asyncio.to_thread(apply_migrations, database_url)
    store = await open_store(database_url)
    try:
        provider = await store.create_provider(
            name="bench", provider_type="openai", base_url=upstream_base, enabled=True,
            config={"max_concurrency": max_concurrency, "queue_size": max_concurrency * 2,
                    "timeout": 120, "first_token_timeout": 30, "idle_timeout": 30},
        )
        await store.create_provider_key(
            provider_id=provider.id, name="bench-upstream",
            key_encrypted=KeyRing.parse(encryption_key).encrypt(upstream_key),
            key_last4=key_last4(upstream_key),
        )
        # the Messages phase reaches it natively as "bench-anthropic/<model>"
        anthropic = await store.create_provider(
            name="bench-anthropic", provider_type="anthropic",
            base_url=upstream_base.removesuffix("/v1"), enabled=True,
            config={"max_concurrency": max_concurrency, "queue_size": max_concurrency * 2,
                    "timeout": 120, "first_token_timeout": 30, "idle_timeout": 30},
        )
        await store.create_provider_key(
            provider_id=anthropic.id, name="bench-anthropic-upstream",
            key_encrypted=KeyRing.parse(encryption_key).encrypt(upstream_key),
            key_last4=key_last4(upstream_key),
        )
        for model in models:
            await store.create_mapping(
                alias_name=model, provider_id=provider.id, provider_model_name=model,
                order_index=0, is_default=False,
                config={"pricing": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}},
            )
        row = await store.create_api_key(
            name="bench", key_hash=hash_client_key(secret_key, client_key),
            key_prefix=client_key_prefix(client_key), tenant="bench", is_admin=False,
            rpm_limit=None, tpm_limit=tpm_limit, allowed_models=None, expires_at=None,
            budget_usd=budget_usd,
        )
        return int(row.id)
    finally:
        await store.aclose()
