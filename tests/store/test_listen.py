"""Change propagation between store instances, and surviving database blips."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from proxy.store import Store, StoreUnavailable, apply_migrations, open_store
from proxy.store.postgres import PostgresStore

pytestmark = pytest.mark.timeout(30)


class Calls:
    """A change callback that lets a test wait for the n-th call, with a deadline."""

    def __init__(self) -> None:
        self.count = 0
        self._event = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self._event.set()

    async def wait(self, within: float) -> None:
        async with asyncio.timeout(within):
            await self._event.wait()
        self._event.clear()


@pytest.fixture
async def two_stores(migrated_url: str) -> AsyncIterator[tuple[Store, Store]]:
    a = await open_store(migrated_url)
    try:
        b = await open_store(migrated_url)
        try:
            yield a, b
        finally:
            await b.aclose()
    finally:
        await a.aclose()


async def _create(store: Store, name: str) -> None:
    await store.create_provider(
        name=name, provider_type="mock", base_url="", config={}, enabled=True
    )


async def _wait_connected(store: Store) -> None:
    if isinstance(store, PostgresStore):
        async with asyncio.timeout(10):
            await store.wait_listening()
        assert store.listener_connected


async def test_a_change_through_one_store_reaches_the_other_within_2s(
    two_stores: tuple[Store, Store],
) -> None:
    writer, reader = two_stores
    calls = Calls()
    await reader.listen(calls)
    await _wait_connected(reader)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await _create(writer, "one")
    await calls.wait(within=2.0)
    assert loop.time() - started < 2.0
    await writer.create_api_key(
        name="k", key_hash="f" * 64, key_prefix="sk-proxy-abc", tenant=None, is_admin=False,
        rpm_limit=None, tpm_limit=None, allowed_models=None, expires_at=None,
    )
    await calls.wait(within=2.0)
    assert calls.count == 2


async def test_own_changes_call_back_once(store: Store) -> None:
    calls = Calls()
    await store.listen(calls)
    await _wait_connected(store)
    await _create(store, "mine")
    await calls.wait(within=2.0)
    await asyncio.sleep(1.5)  # the echoed NOTIFY / next poll must not fire again
    assert calls.count == 1


async def test_a_raising_callback_does_not_stop_the_others(two_stores: tuple[Store, Store]) -> None:
    writer, reader = two_stores

    def broken() -> None:
        raise RuntimeError("callback bug")

    calls = Calls()
    await reader.listen(broken)
    await reader.listen(calls)
    await _wait_connected(reader)
    await _create(writer, "a")
    await calls.wait(within=2.0)
    await _create(writer, "b")
    await calls.wait(within=2.0)


async def _terminate_backends(url: str) -> int:
    """Kill every other connection to this test database: a database blip."""
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ))
    finally:
        await conn.close()


async def test_listener_and_pool_recover_after_connections_are_killed(pg_url: str) -> None:
    await asyncio.to_thread(apply_migrations, pg_url)
    writer, reader = await open_store(pg_url), await open_store(pg_url)
    try:
        calls = Calls()
        await reader.listen(calls)
        await _wait_connected(reader)
        await writer.ping()
        assert await _terminate_backends(pg_url) >= 2

        # A missed change while the listener reconnects is still delivered.
        for _ in range(3):
            try:
                await _create(writer, "after-blip")
                break
            except StoreUnavailable:  # at most the in-flight call may fail
                await asyncio.sleep(0.1)
        await calls.wait(within=5.0)
        await _wait_connected(reader)
        await _create(writer, "later")
        await calls.wait(within=2.0)
        assert await writer.ping() and await reader.ping()
        assert [p.name for p in await reader.list_providers()] == ["after-blip", "later"]
    finally:
        await reader.aclose()
        await writer.aclose()


async def test_listen_does_not_raise_when_the_database_is_gone(pg_url: str) -> None:
    await asyncio.to_thread(apply_migrations, pg_url)
    store = await open_store(pg_url)
    try:
        await _terminate_backends(pg_url)
        await store.listen(Calls())  # must not raise, whatever the pool's state
        await _wait_connected(store)
    finally:
        await store.aclose()


async def test_sqlite_picks_up_changes_from_another_process_within_2s(sqlite_url: str) -> None:
    await asyncio.to_thread(apply_migrations, sqlite_url)
    reader = await open_store(sqlite_url)
    try:
        calls = Calls()
        await reader.listen(calls)
        other = await open_store(sqlite_url)  # stands in for e.g. the create-api-key CLI
        try:
            await _create(other, "external")
        finally:
            await other.aclose()
        await calls.wait(within=2.0)
        assert calls.count == 1
    finally:
        await reader.aclose()
