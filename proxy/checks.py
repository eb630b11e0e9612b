"""``openai-proxy check``: configuration, database, Redis and every provider reachable
with its keys. Prints one line per check; the exit code is 0 only when all pass.

A failure names what was tried (the database or Redis address with any password
masked, the provider's URL) and the underlying message, never just an exception class."""

from __future__ import annotations

import asyncio

import aiohttp

from supervisors.adapters.discovery import discovery_request, parse_model_ids
from supervisors.spec import ProviderConfig, ProviderSpec

from .cli_errors import database_address, reason
from .config import Settings
from .crypto import DecryptionError
from .header_secrets import provider_headers
from .kms import KmsUnavailable, check_kms, open_keyring
from .store import open_store
from .store.base import Store

__all__ = ["run_checks"]


async def run_checks(settings: Settings) -> bool:
    ok = True
    where = database_address(settings.database_url)
    try:
        store = await open_store(settings.database_url)
    except Exception as exc:  # report, never crash
        print(f"database: FAILED ({where}: {reason(exc)})")
        return False
    try:
        if await store.is_migrated():
            print("database: ok")
            ok = await _providers(store, settings) and ok
        else:  # `serve` and `migrate` create the schema: nothing configured to probe yet
            print("database: ok (not migrated yet: `serve` or `migrate` applies the migrations)")
    except Exception as exc:
        ok = False
        print(f"database: FAILED ({where}: {reason(exc)})")
    finally:
        await store.aclose()
    if settings.redis_url:
        ok = await _redis(settings.redis_url) and ok
    return ok


async def _redis(url: str) -> bool:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
        print("redis: ok")
        return True
    except Exception as exc:
        print(f"redis: FAILED ({database_address(url)}: {reason(exc)})")
        return False
    finally:
        await client.aclose()


async def _providers(store: Store, settings: Settings) -> bool:
    """Every enabled provider probed with each of its keys; a provider whose stored
    secrets (keys, ``config.headers``) cannot be decrypted is named and not probed with
    what is left, when that would send no credential."""
    assert settings.encryption_key is not None
    for line in await check_kms(settings.encryption_key):
        print(line)
    try:
        keyring = await open_keyring(settings.encryption_key, store)
    except KmsUnavailable as exc:
        print(f"encryption keys: FAILED ({exc})")
        return False
    snapshot = await store.load_config()
    keys: dict[int, list[str]] = {}
    lost: dict[int, int] = {}
    for key_row in snapshot.provider_keys:
        try:
            keys.setdefault(key_row.provider_id, []).append(keyring.decrypt(key_row.key_encrypted))
        except DecryptionError:
            lost[key_row.provider_id] = lost.get(key_row.provider_id, 0) + 1
    ok = True
    probes: list[tuple[str, ProviderSpec, list[str] | list[None]]] = []
    for row in snapshot.providers:
        if not row.enabled:
            continue
        good = keys.get(row.id, [])
        try:
            headers = provider_headers(keyring, row)
        except DecryptionError:
            ok = False
            print(f"provider {row.name}: FAILED (config.headers cannot be decrypted with "
                  "ENCRYPTION_KEY)")
            continue
        if row.id in lost:
            ok = False
            total = len(good) + lost[row.id]
            print(f"provider {row.name}: FAILED ({lost[row.id]} of {total} keys cannot be "
                  "decrypted with ENCRYPTION_KEY)")
            if not good:
                continue
        config = ProviderConfig.from_dict({**row.config, "headers": headers})
        spec = ProviderSpec(id=row.id, name=row.name, type=row.provider_type,
                            base_url=row.base_url, config=config)
        probes.append((row.name, spec, good if good else [None]))
    timeout = aiohttp.ClientTimeout(total=10, sock_connect=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        results = await asyncio.gather(*(
            _probe(session, name, spec, probe_keys) for name, spec, probe_keys in probes
        ))
    return ok and all(results)


async def _probe(session: aiohttp.ClientSession, name: str, spec: ProviderSpec,
                 keys: list[str] | list[None]) -> bool:
    fine = True
    for index, key in enumerate(keys):
        label = f"provider {name}" + (f" key {index + 1}/{len(keys)}" if len(keys) > 1 else "")
        request = discovery_request(spec, key)
        if request is None:
            print(f"{label}: ok (in-process)")
            continue
        try:
            async with session.request(request.method, request.url,
                                       headers=request.headers) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    print(f"{label}: FAILED (HTTP {resp.status})")
                    fine = False
                    continue
                models = parse_model_ids(spec.type, body)
                print(f"{label}: ok ({len(models)} models)")
        except TimeoutError:
            print(f"{label}: FAILED ({request.url}: no answer within 10 s)")
            fine = False
        except (aiohttp.ClientError, ValueError) as exc:
            print(f"{label}: FAILED ({request.url}: {reason(exc)})")
            fine = False
    return fine
