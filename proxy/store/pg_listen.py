"""LISTEN ``openai_proxy_config`` on a dedicated connection that heals itself.

The connection is not taken from the pool (a pooled connection is reset on release, which
drops its listeners). Every config write sends ``pg_notify(channel, <new version>)`` inside
its transaction, so the payload tells us the version; the ``ChangeFanout`` drops versions
already seen (including our own writes).

If the connection drops, the listener reconnects with exponential backoff and, once back,
compares ``config_version`` with the last version seen, so notifications missed while
disconnected still cause one reload. Every ``keepalive`` seconds it reads the version as
well: that both detects a half-dead connection and catches anything missed. Nothing here
raises into the caller; failures are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from proxy.store.changes import ChangeFanout

__all__ = ["CHANNEL", "ConfigListener"]

CHANNEL = "openai_proxy_config"
log = logging.getLogger("proxy.store")


class ConfigListener:
    def __init__(
        self,
        dsn: str,
        changes: ChangeFanout,
        *,
        keepalive: float = 5.0,
        min_backoff: float = 0.2,
        max_backoff: float = 5.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self._dsn = dsn
        self._changes = changes
        self._keepalive = keepalive
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._connect_timeout = connect_timeout
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pg-config-listener")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            version: int | None = int(payload)
        except ValueError:
            version = None
        self._changes.changed(version)

    async def _run(self) -> None:
        backoff = self._min_backoff
        while True:
            try:
                await self._session()
                backoff = self._min_backoff
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("config listener connection lost: %s", type(exc).__name__)
            except Exception:  # keep listening whatever happens; the reason is logged
                log.exception("config listener failed")
            self.connected.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _session(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn, timeout=self._connect_timeout
        )
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _c: lost.set())
            await conn.add_listener(CHANNEL, self._on_notify)
            await self._check(conn)  # anything missed while we were away
            self.connected.set()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=self._keepalive)
                if not lost.is_set():
                    await self._check(conn)
        finally:
            self.connected.clear()
            if not conn.is_closed():
                try:
                    await asyncio.wait_for(conn.close(), timeout=2.0)
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    conn.terminate()

    async def _check(self, conn: asyncpg.Connection) -> None:
        version = await conn.fetchval(
            "SELECT version FROM config_version WHERE id = 1", timeout=self._keepalive
        )
        if version is not None:
            self._changes.changed(int(version))
