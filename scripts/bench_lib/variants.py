"""Proxy variants for the comparison phases (``audit``, ``limits``, ``workers``): the
gateway started several times against the bench's one fake upstream, each start with its
own store (freshly seeded), environment and flags. Starting and stopping are blocking
(between measurements); the measurements themselves run on an event loop."""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from .loads import Target
from .procs import Proc, get, seed_gateway

__all__ = ["Gateway", "Running", "Variant", "all_cpus", "audit_rows", "free_port", "metric",
           "running_variants"]


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    #: environment on top of the bench's proxy environment
    env: dict[str, str] = field(default_factory=dict)
    #: extra ``serve`` arguments (``--workers 2``)
    args: tuple[str, ...] = ()
    #: processes that must log ``listening`` before the variant counts as started
    workers: int = 1
    #: pinned to the core of the process under test; False: allowed on every CPU
    pinned: bool = True
    #: the client key's tokens-per-minute limit (None: no token check at all)
    tpm_limit: int | None = 1_000_000_000_000
    #: the client key's budget in USD (None: no budget, nothing reserved)
    budget_usd: float | None = None


@dataclass(frozen=True, slots=True)
class Gateway:
    """What every variant shares: how to start the gateway and seed its store."""

    tmp: Path
    proxy_cmd: str
    env_for: Callable[[Path], dict[str, str]]  # data dir -> the proxy's environment
    upstream_base: str
    upstream_key: str
    client_key: str
    encryption_key: str
    secret_key: str
    models: tuple[str, ...]
    max_concurrency: int
    core_mid: int | None
    all_cpus: str | None  # taskset list of every CPU we may use ("0,1"), None: no taskset


@dataclass(slots=True)
class Running:
    variant: Variant
    proc: Proc
    target: Target
    database: Path
    client_id: int
    exit_code: int | None = None
    stopped: bool = False

    def stop(self) -> int | None:
        if not self.stopped:
            self.stopped = True
            self.exit_code = self.proc.stop()
        return self.exit_code


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(log: str) -> set[int]:
    pids = set()
    for line in log.splitlines():
        if '"listening"' in line:
            try:
                pids.add(int(orjson.loads(line)["pid"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
    return pids


def _start(gw: Gateway, v: Variant, procs: list[Proc], timeout: float = 60.0) -> Running:
    data = gw.tmp / f"proxy-{v.name}"
    data.mkdir(parents=True)
    env = {**gw.env_for(data), **v.env}
    database = data / "proxy.db"
    env["DATABASE_URL"] = f"sqlite:///{database}"
    client_id = asyncio.run(seed_gateway(
        env["DATABASE_URL"], gw.encryption_key, gw.secret_key, upstream_base=gw.upstream_base,
        upstream_key=gw.upstream_key, client_key=gw.client_key, models=list(gw.models),
        max_concurrency=gw.max_concurrency, tpm_limit=v.tpm_limit, budget_usd=v.budget_usd))
    port = free_port()
    cmd = shlex.split(gw.proxy_cmd.format(python=shlex.quote(sys.executable), port=port))
    proc = Proc(f"proxy-{v.name}", [*cmd, *v.args], env=env, cwd=data, log=data / "proxy.log",
                core=gw.core_mid if v.pinned else gw.all_cpus)
    procs.append(proc)
    proc.start(port, "/readyz", timeout=timeout)
    deadline = time.monotonic() + timeout
    while len(_listening(proc.logs())) < v.workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name}: {v.workers} workers not listening after "
                               f"{timeout} s\n{proc.logs()[-3000:]}")
        time.sleep(0.1)
    return Running(v, proc, Target(v.name, "127.0.0.1", port, token=gw.client_key),
                   database, client_id)


@contextmanager
def running_variants(gw: Gateway, variants: list[Variant], procs: list[Proc],
                     log: Callable[[str], None]) -> Iterator[dict[str, Running]]:
    """Start every variant (each appended to ``procs`` before it starts); stop them all,
    in reverse order, on the way out, whatever happened."""
    started: dict[str, Running] = {}
    try:
        for v in variants:
            log(f"starting proxy variant {v.name}")
            started[v.name] = _start(gw, v, procs)
        yield started
    finally:
        for run in reversed(list(started.values())):
            run.stop()


def metric(port: int, name: str) -> float | None:
    """The sum of one metric's samples on the proxy's /metrics (None: not exported)."""
    try:
        status, body = get(port, "/metrics", timeout=5.0)
    except OSError:
        return None
    if status != 200:
        return None
    total: float | None = None
    for line in body.decode(errors="replace").splitlines():
        if line.split("{", 1)[0].split(" ", 1)[0] == name:
            try:
                total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
            except ValueError:
                continue
    return total


def audit_rows(database: Path) -> int:
    """Rows in the proxy's ``audit_log`` (read-only; the proxy may still be writing)."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5.0)) as db:
        return int(db.execute("SELECT count(*) FROM audit_log").fetchone()[0])


def all_cpus() -> str:
    """Our CPUs as a ``taskset -c`` list; call it before pinning ourselves."""
    return ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
