"""``openai-proxy`` (and ``python -m proxy``): serve, migrate, create-api-key,
rotate-encryption, check, apply, export.

Failures print one line and no traceback: a configuration error names the variable or
flag and exits 2; an unreachable dependency names its address and exits 1
(``cli_errors``).
"""

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
from pathlib import Path
from typing import Any

from .cli_errors import EXIT_CONFIG, EXIT_UNAVAILABLE, Unreachable, database_address, reason
from .config import ConfigError, Settings, load_dotenv_file, port_number
from .crypto import DecryptionError
from .kms import KmsUnavailable
from .logs import configure_logging
from .secrets import ensure_secrets
from .store.base import InvalidDatabaseURL, StoreError

__all__ = ["main"]

log = logging.getLogger("proxy.cli")


_DEMO_HOST = "127.0.0.1"


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides: dict[str, object] = {}
    host = getattr(args, "host", None)
    if host is not None:
        if not host.strip():
            raise ConfigError("--host must not be empty")
        overrides["host"] = host.strip()
    if getattr(args, "port", None) is not None:
        overrides["port"] = port_number("--port", args.port)
    workers = getattr(args, "workers", None)
    if workers is not None:
        if not workers.isdigit() or int(workers) < 1:
            raise ConfigError(f"--workers must be an integer >= 1, got {workers!r}")
        overrides["workers"] = int(workers)
    if getattr(args, "demo", False):
        overrides["demo"] = True
        # the demo publishes a client key: loopback only, unless a host is asked for
        if host is None and not os.environ.get("APP_HOST", "").strip():
            overrides["host"] = _DEMO_HOST
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
        raise Unreachable(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
        ) from None
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
    if settings.demo and settings.host == _DEMO_HOST:
        log.info("demo: listening on loopback only (127.0.0.1); pass --host or set APP_HOST "
                 "to accept other machines")
    await stop.wait()
    log.info("shutting down: draining", extra={"grace_seconds": settings.shutdown_timeout})
    await runner.cleanup()
    log.info("stopped")
    return 0


def _worker_main(settings: Settings) -> None:
    configure_logging(settings.log_level, service=settings.app_name).add(
        settings.secret_key, settings.admin_api_key, settings.encryption_key
    )
    sys.exit(_guarded(lambda: _run(_serve(settings, reuse_port=True)), settings.database_url))


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


def _expiry(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"--expires must be an ISO-8601 time such as 2030-01-31T12:00:00Z, "
                          f"got {raw!r}") from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


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
            expires_at=_expiry(args.expires),
        )
    finally:
        await store.aclose()
    print(f"id={row.id} name={row.name} admin={row.is_admin}", file=sys.stderr)
    print(plaintext)
    return 0


def cmd_create_api_key(args: argparse.Namespace) -> int:
    return _run(_create_api_key(ensure_secrets(_settings(args)), args))


async def _rotate(settings: Settings) -> int:
    from .kms import open_keyring
    from .store import open_store

    assert settings.encryption_key is not None
    store = await open_store(settings.database_url)
    try:
        keyring = await open_keyring(settings.encryption_key, store)
        count = await store.reencrypt_provider_keys(keyring.rotate)
    except DecryptionError:
        raise ConfigError(
            "ENCRYPTION_KEY: a stored provider key cannot be decrypted with any of its keys; "
            "nothing was changed (list the new key first and the old one after it: NEW,OLD)"
        ) from None
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


_SERVE_FLAGS = (
    ("--host", "APP_HOST", "address to listen on (default 0.0.0.0; 127.0.0.1 with --demo)"),
    ("--port", "APP_PORT", "TCP port, 1-65535 (default 8000)"),
    ("--workers", "APP_WORKERS", "processes sharing the port with SO_REUSEPORT (default 1)"),
)
_DESCRIPTION = """OpenAI-compatible LLM gateway.

Configuration comes from environment variables (and a .env file); see README.md.
Exit codes: 0 success, 1 a dependency is unreachable or a check failed,
2 invalid configuration or usage."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openai-proxy")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


async def _apply(settings: Settings, args: argparse.Namespace) -> int:
    from .crypto import KeyRing
    from .declarative.source import FileError, load
    from .declarative.sync import plan
    from .store import apply_migrations, open_store

    try:
        desired = load(args.file)
    except FileError as exc:
        raise ConfigError(str(exc)) from None
    await asyncio.to_thread(apply_migrations, settings.database_url)
    store = await open_store(settings.database_url)
    assert settings.encryption_key is not None and settings.secret_key is not None
    try:
        changes, new_keys = await plan(store, desired, KeyRing.parse(settings.encryption_key),
                                       settings.secret_key, prune=args.prune)
        todo = [c for c in changes if c.action is not None]
        for change in changes:
            print(change.line)
        if not todo:
            print("no changes")
            return 0
        if args.dry_run:
            print(f"{len(todo)} change(s); dry run, nothing applied")
            return 0
        for change in todo:
            assert change.action is not None
            await change.action()
        print(f"applied {len(todo)} change(s)")
        for name, plaintext in new_keys:
            print(f"new client key {name} (shown once): {plaintext}")
    except FileError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        await store.aclose()
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    return _run(_apply(ensure_secrets(_settings(args)), args))


async def _export(settings: Settings) -> int:
    import yaml

    from .crypto import KeyRing
    from .declarative.sync import export
    from .store import apply_migrations, open_store

    await asyncio.to_thread(apply_migrations, settings.database_url)
    store = await open_store(settings.database_url)
    assert settings.encryption_key is not None
    try:
        doc = await export(store, KeyRing.parse(settings.encryption_key))
    finally:
        await store.aclose()
    print("# openai-proxy export: provider keys and secret headers are not included;\n"
          "# a key listed by name keeps its stored secret when applied.")
    print(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), end="")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    return _run(_export(ensure_secrets(_settings(args), announce=False)))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openai-proxy", description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"openai-proxy {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser(
        "serve", help="run the gateway", description="Run the gateway. Each flag "
        "overrides the environment variable named in its help.",
    )
    for flag, variable, text in _SERVE_FLAGS:
        serve.add_argument(flag, metavar=variable, help=f"{text}; overrides {variable}")
    serve.add_argument("--demo", action="store_true",
                       help="seed the offline demo configuration (mock provider, client key "
                            "mock-api-key-123; with OPENAI_API_KEY also a real openai provider)")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    create = sub.add_parser("create-api-key", help="create a client key and print it once")
    create.add_argument("--name", default="cli", help="a label for the key (default cli)")
    create.add_argument("--tenant", help="the tenant its requests count against")
    create.add_argument("--admin", action="store_true", help="the key may use /admin")
    create.add_argument("--rpm", type=int, help="requests per minute (default: global limit)")
    create.add_argument("--tpm", type=int, help="tokens per minute (default: global limit)")
    create.add_argument("--models", help="comma-separated allowed model aliases")
    create.add_argument("--expires", help="ISO-8601 expiry time")
    create.set_defaults(func=cmd_create_api_key)
    sub.add_parser(
        "rotate-encryption", help="re-encrypt provider keys under the first ENCRYPTION_KEY"
    ).set_defaults(func=cmd_rotate_encryption)
    sub.add_parser("check", help="validate configuration and connectivity").set_defaults(
        func=cmd_check
    )
    apply = sub.add_parser(
        "apply", help="make providers, models and client keys match a YAML file",
        description="Make providers, model chains and client-key policies match FILE, by "
                    "name; print the diff first. Objects the file does not name are kept "
                    "unless --prune. New client keys are printed once.")
    apply.add_argument("-f", "--file", required=True, metavar="FILE",
                       help="the YAML file ('-' reads standard input)")
    apply.add_argument("--dry-run", action="store_true", help="print the diff, change nothing")
    apply.add_argument("--prune", action="store_true",
                       help="also delete providers, models and client keys not in the file")
    apply.set_defaults(func=cmd_apply)
    sub.add_parser(
        "export", help="print the current configuration as YAML (no secrets)"
    ).set_defaults(func=cmd_export)
    return parser


def _guarded(run: Any, database_url: str) -> int:
    """Run a command; turn the failures an operator can fix into one line and an exit code."""
    try:
        return int(run())
    except (ConfigError, InvalidDatabaseURL) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (Unreachable, KmsUnavailable) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_UNAVAILABLE
    except OSError as exc:
        if exc.filename is not None:  # the data directory, a secret file, the SQLite file
            print(f"cannot use {exc.filename}: {exc.strerror or reason(exc)}", file=sys.stderr)
            return EXIT_UNAVAILABLE
        print(f"database unreachable at {database_address(database_url)}: {reason(exc)}",
              file=sys.stderr)
        return EXIT_UNAVAILABLE
    except StoreError as exc:
        print(f"database unreachable at {database_address(database_url)}: {reason(exc)}",
              file=sys.stderr)
        return EXIT_UNAVAILABLE


def main(argv: Sequence[str] | None = None) -> int:
    load_dotenv_file()
    args = _parser().parse_args(argv)
    url = os.environ.get("DATABASE_URL", "").strip() or "sqlite:///{}".format(
        Path(os.environ.get("DATA_DIR", "").strip() or "data") / "proxy.db")
    return _guarded(lambda: args.func(args), url)
