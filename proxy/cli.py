"""``openai-proxy`` (and ``python -m proxy``): serve, migrate, create-api-key,
rotate-encryption, check."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

from .config import ConfigError, Settings, load_dotenv_file
from .logs import configure_logging
from .secrets import ensure_secrets

__all__ = ["main"]

log = logging.getLogger("proxy.cli")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides: dict[str, object] = {}
    for name, field in (("host", "host"), ("port", "port"), ("workers", "workers")):
        value = getattr(args, name, None)
        if value is not None:
            overrides[field] = value
    if getattr(args, "demo", False):
        overrides["demo"] = True
    return settings.with_overrides(**overrides) if overrides else settings


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - non-POSIX
        return asyncio.run(coro)
    return uvloop.run(coro)


# -- serve --------------------------------------------------------------------------------


async def _serve(settings: Settings, *, reuse_port: bool) -> int:
    from aiohttp import web

    from .app import build_app
    from .http_server import GatewayRunner

    app = build_app(settings)
    runner = GatewayRunner(
        app,
        handler_cancellation=True,
        shutdown_timeout=settings.shutdown_timeout,
        access_log=None,
    )
    await runner.setup()
    site = web.TCPSite(
        runner, settings.host, settings.port, reuse_port=reuse_port or None, backlog=2048
    )
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        print(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}", file=sys.stderr)
        return 1
    # everything allocated so far lives for the whole process: keep it out of the
    # collector's way, and collect young objects less often (fewer pauses per request)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("listening", extra={"host": settings.host, "port": settings.port,
                                 "pid": os.getpid()})
    await stop.wait()
    log.info("shutting down: draining", extra={"grace_seconds": settings.shutdown_timeout})
    await runner.cleanup()
    log.info("stopped")
    return 0


def _worker_main(settings: Settings) -> None:
    configure_logging(settings.log_level, service=settings.app_name).add(
        settings.secret_key, settings.admin_api_key, settings.encryption_key
    )
    sys.exit(_run(_serve(settings, reuse_port=True)))


def cmd_serve(args: argparse.Namespace) -> int:
    settings = ensure_secrets(_settings(args))
    secret_filter = configure_logging(settings.log_level, service=settings.app_name)
    secret_filter.add(settings.secret_key, settings.admin_api_key, settings.encryption_key)
    if settings.workers <= 1:
        return _run(_serve(settings, reuse_port=False))
    from .store import apply_migrations

    apply_migrations(settings.database_url)  # once, before the workers race for it
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_worker_main, args=(settings,), name=f"worker-{i}")
               for i in range(settings.workers)]
    for w in workers:
        w.start()

    def forward(signum: int, _frame: object) -> None:
        for w in workers:
            if w.is_alive() and w.pid:
                os.kill(w.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for w in workers:
        w.join()
    return max((w.exitcode or 0) for w in workers)


# -- one-shot commands ----------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> int:
    from .store import apply_migrations

    settings = _settings(args)
    applied = apply_migrations(settings.database_url)
    print(f"applied {applied} migration(s)")
    return 0


async def _create_api_key(settings: Settings, args: argparse.Namespace) -> int:
    from .crypto import client_key_prefix, generate_client_key, hash_client_key
    from .store import apply_migrations, open_store

    await asyncio.to_thread(apply_migrations, settings.database_url)
    store = await open_store(settings.database_url)
    try:
        plaintext = generate_client_key()
        assert settings.secret_key is not None
        row = await store.create_api_key(
            name=args.name, key_hash=hash_client_key(settings.secret_key, plaintext),
            key_prefix=client_key_prefix(plaintext), tenant=args.tenant, is_admin=args.admin,
            rpm_limit=args.rpm, tpm_limit=args.tpm,
            allowed_models=args.models.split(",") if args.models else None,
            expires_at=datetime.fromisoformat(args.expires).astimezone(UTC) if args.expires else None,
        )
    finally:
        await store.aclose()
    print(f"id={row.id} name={row.name} admin={row.is_admin}", file=sys.stderr)
    print(plaintext)
    return 0


def cmd_create_api_key(args: argparse.Namespace) -> int:
    return _run(_create_api_key(ensure_secrets(_settings(args)), args))


async def _rotate(settings: Settings) -> int:
    from .crypto import KeyRing
    from .store import open_store

    assert settings.encryption_key is not None
    keyring = KeyRing.parse(settings.encryption_key)
    store = await open_store(settings.database_url)
    try:
        count = await store.reencrypt_provider_keys(keyring.rotate)
    finally:
        await store.aclose()
    print(f"re-encrypted {count} provider key(s) under the first ENCRYPTION_KEY")
    return 0


def cmd_rotate_encryption(args: argparse.Namespace) -> int:
    return _run(_rotate(ensure_secrets(_settings(args))))


async def _check(settings: Settings) -> int:
    from .checks import run_checks

    return 0 if await run_checks(settings) else 1


def cmd_check(args: argparse.Namespace) -> int:
    settings = ensure_secrets(_settings(args), announce=False)
    print("configuration: ok")
    return _run(_check(settings))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openai-proxy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, help="processes sharing the port (SO_REUSEPORT)")
    serve.add_argument("--demo", action="store_true", help="seed the offline demo configuration")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    create = sub.add_parser("create-api-key", help="create a client key and print it once")
    create.add_argument("--name", default="cli")
    create.add_argument("--tenant")
    create.add_argument("--admin", action="store_true")
    create.add_argument("--rpm", type=int)
    create.add_argument("--tpm", type=int)
    create.add_argument("--models", help="comma-separated allowed model aliases")
    create.add_argument("--expires", help="ISO-8601 expiry time")
    create.set_defaults(func=cmd_create_api_key)
    sub.add_parser(
        "rotate-encryption", help="re-encrypt provider keys under the first ENCRYPTION_KEY"
    ).set_defaults(func=cmd_rotate_encryption)
    sub.add_parser("check", help="validate configuration and connectivity").set_defaults(
        func=cmd_check
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    load_dotenv_file()
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
