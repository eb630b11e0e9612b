"""Migrations: forward-only, idempotent, safe when replicas start together."""

from __future__ import annotations

import asyncio
import multiprocessing
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest

from proxy.store import MigrationError, apply_migrations, find_migrations_dir, open_store
from proxy.store.migrate import migration_ids

pytestmark = pytest.mark.timeout(60)

TABLES = {"providers", "provider_keys", "model_mappings", "api_keys", "audit_log",
          "config_version"}


def _apply_after_barrier(url: str, barrier: Any) -> int:
    barrier.wait(timeout=30)
    return apply_migrations(url)


def _pg_schema(url: str) -> tuple[list[str], list[str], int]:
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "ORDER BY table_name"
        )]
        applied = [r[0] for r in conn.execute("SELECT migration_id FROM _yoyo_migration")]
        row = conn.execute("SELECT count(*) FROM config_version").fetchone()
        assert row is not None
        return tables, applied, int(row[0])


async def test_applying_twice_is_a_no_op(database_url: str) -> None:
    first = await asyncio.to_thread(apply_migrations, database_url)
    assert first == len(migration_ids()) >= 1
    store = await open_store(database_url)
    try:
        await store.create_provider(
            name="kept", provider_type="mock", base_url="", config={}, enabled=True
        )
        version = await store.config_version()
        assert await asyncio.to_thread(apply_migrations, database_url) == 0
        assert [p.name for p in await store.list_providers()] == ["kept"]
        assert await store.config_version() == version
        assert await store.is_migrated()
    finally:
        await store.aclose()


def test_concurrent_apply_from_two_processes_gives_one_schema(pg_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(2, mp_context=ctx) as pool:
        barrier = manager.Barrier(2)
        futures = [pool.submit(_apply_after_barrier, pg_url, barrier) for _ in range(2)]
        counts = sorted(f.result(timeout=50) for f in futures)
    assert counts == [0, len(migration_ids())]
    tables, applied, version_rows = _pg_schema(pg_url)
    assert TABLES <= set(tables)
    assert sorted(applied) == sorted(migration_ids())
    assert version_rows == 1


def test_sqlite_creates_the_parent_directory(tmp_path: Path) -> None:
    db = tmp_path / "deep" / "er" / "proxy.db"
    assert apply_migrations(f"sqlite:///{db}") >= 1
    assert db.is_file()


def test_relative_sqlite_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert apply_migrations("sqlite:///data/proxy.db") >= 1
    assert (tmp_path / "data" / "proxy.db").is_file()


def test_migrations_dir_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    custom = tmp_path / "migrations"
    custom.mkdir()
    (custom / "0001_only.py").write_text(
        "from yoyo import step\nsteps = [step('CREATE TABLE only_here (id INTEGER)')]\n"
    )
    monkeypatch.setenv("MIGRATIONS_DIR", str(custom))
    assert find_migrations_dir() == custom
    assert apply_migrations(f"sqlite:///{tmp_path / 'x.db'}") == 1
    monkeypatch.setenv("MIGRATIONS_DIR", str(tmp_path / "missing"))
    with pytest.raises(MigrationError, match="MIGRATIONS_DIR"):
        find_migrations_dir()


def test_a_broken_migration_fails_loudly(tmp_path: Path) -> None:
    broken = tmp_path / "migrations"
    broken.mkdir()
    (broken / "0001_broken.py").write_text("this is not python\n")
    with pytest.raises(MigrationError):
        apply_migrations(f"sqlite:///{tmp_path / 'x.db'}", migrations_dir=broken)


def test_the_repository_migrations_are_found() -> None:
    found = find_migrations_dir()
    assert found.name == "migrations" and (found / "0001_initial.py").is_file()


async def test_groups_migration_keeps_existing_mappings(database_url: str,
                                                        tmp_path: Path) -> None:
    """A database made before routing groups keeps its mappings and then accepts two
    mappings of one alias at the same order_index."""
    first_only = tmp_path / "migrations"
    first_only.mkdir()
    for earlier in ("0001_initial.py", "0002_audit_and_secrets.py"):  # what the store needs
        (first_only / earlier).write_text((find_migrations_dir() / earlier).read_text())
    await asyncio.to_thread(apply_migrations, database_url, first_only)
    store = await open_store(database_url)
    try:
        provider = await store.create_provider(
            name="p", provider_type="mock", base_url="", config={}, enabled=True)
        kept = await store.create_mapping(
            alias_name="a", provider_id=provider.id, provider_model_name="m1",
            order_index=0, is_default=True, config={"weight": 2})
    finally:
        await store.aclose()
    assert await asyncio.to_thread(apply_migrations, database_url) >= 1
    store = await open_store(database_url)
    try:
        assert await store.list_mappings() == [kept]
        member = await store.create_mapping(
            alias_name="a", provider_id=provider.id, provider_model_name="m2",
            order_index=0, is_default=False, config={})
        assert [m.id for m in await store.list_mappings()] == [kept.id, member.id]
        assert await store.is_migrated()
    finally:
        await store.aclose()


def test_a_migrated_database_is_told_without_importing_yoyo(migrated_url: str) -> None:
    code = ("import sys\n"
            "from proxy.store import apply_migrations\n"
            f"print(apply_migrations({migrated_url!r}), 'yoyo' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=50)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == ["0", "False"]


def test_a_missing_migration_still_runs_through_yoyo(migrated_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    for path in find_migrations_dir().glob("*.py"):
        (directory / path.name).write_text(path.read_text())
    (directory / "9999_extra.py").write_text(
        "from yoyo import step\nsteps = [step('CREATE TABLE extra_table (id INTEGER)')]\n")
    assert apply_migrations(migrated_url, directory) == 1
    assert apply_migrations(migrated_url, directory) == 0
