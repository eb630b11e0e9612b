"""The demo configuration of ``serve --demo``: works offline, idempotent.

* provider ``mock`` (in-process), aliases ``gpt-3.5-turbo``, ``gpt-4o-mini`` and
  ``text-embedding-3-small`` on it, ``gpt-3.5-turbo`` also the default route;
* client key ``mock-api-key-123`` (tenant ``demo``);
* with ``OPENAI_API_KEY`` set: provider ``openai`` (api.openai.com) holding that key,
  first in the ``gpt-4o-mini`` and ``text-embedding-3-small`` chains, with ``mock`` as
  the fallback. This holds on a later start too: a demo database seeded offline gets
  ``openai`` put in front of the existing ``mock`` entries, and a changed
  ``OPENAI_API_KEY`` replaces the stored one.

Entries an operator added to these chains stay, after the demo's own.
"""

from __future__ import annotations

import logging

from .config import Settings
from .crypto import DecryptionError, KeyRing, client_key_prefix, hash_client_key, key_last4
from .store.base import Conflict, ProviderRow, Store

__all__ = ["DEMO_CLIENT_KEY", "seed_demo"]

log = logging.getLogger("proxy.demo")

DEMO_CLIENT_KEY = "mock-api-key-123"


async def seed_demo(store: Store, keyring: KeyRing, settings: Settings) -> None:
    assert settings.secret_key is not None
    providers = {p.name: p for p in await store.list_providers()}
    mock = providers.get("mock") or await store.create_provider(
        name="mock", provider_type="mock", base_url="mock://", config={}, enabled=True
    )
    chains: dict[str, list[tuple[int, str]]] = {
        "gpt-3.5-turbo": [(mock.id, "gpt-3.5-turbo")],
        "gpt-4o-mini": [(mock.id, "gpt-4o-mini")],
        "text-embedding-3-small": [(mock.id, "text-embedding-3-small")],
    }
    if settings.openai_api_key:
        openai = providers.get("openai") or await store.create_provider(
            name="openai", provider_type="openai", base_url="https://api.openai.com/v1",
            config={}, enabled=True,
        )
        await _openai_key(store, keyring, openai, settings.openai_api_key)
        chains["gpt-4o-mini"].insert(0, (openai.id, "gpt-4o-mini"))
        chains["text-embedding-3-small"].insert(0, (openai.id, "text-embedding-3-small"))
    for alias, chain in chains.items():
        await _ensure_chain(store, alias, chain)
    digest = hash_client_key(settings.secret_key, DEMO_CLIENT_KEY)
    if not any(k.key_hash == digest for k in await store.list_api_keys()):
        try:
            await store.create_api_key(
                name="demo", key_hash=digest, key_prefix=client_key_prefix(DEMO_CLIENT_KEY),
                tenant="demo", is_admin=False, rpm_limit=None, tpm_limit=None,
                allowed_models=None, expires_at=None,
            )
        except Conflict:
            pass
    log.info("demo configuration ready")


async def _openai_key(store: Store, keyring: KeyRing, openai: ProviderRow, key: str) -> None:
    """The provider holds ``OPENAI_API_KEY``: created once, replaced when it changed."""
    for row in await store.list_provider_keys(openai.id):
        if row.name != "OPENAI_API_KEY":
            continue
        try:
            same = keyring.decrypt(row.key_encrypted) == key
        except DecryptionError:
            same = False
        if not same:
            await store.update_provider_key(row.id, key_encrypted=keyring.encrypt(key),
                                            key_last4=key_last4(key), healthy=True)
        return
    await store.create_provider_key(provider_id=openai.id, name="OPENAI_API_KEY",
                                    key_encrypted=keyring.encrypt(key), key_last4=key_last4(key))


async def _ensure_chain(store: Store, alias: str, chain: list[tuple[int, str]]) -> None:
    """Each (provider, model) of ``chain`` is in the alias's chain, at its position: a
    missing entry is inserted there and the entries from that position on move back one."""
    for position, (provider_id, model) in enumerate(chain):
        rows = sorted((m for m in await store.list_mappings() if m.alias_name == alias),
                      key=lambda m: m.order_index)
        if any(m.provider_id == provider_id and m.provider_model_name == model for m in rows):
            continue
        for row in reversed(rows):  # highest first: order_index is unique per alias
            if row.order_index >= position:
                await store.update_mapping(row.id, order_index=row.order_index + 1)
        await store.create_mapping(
            alias_name=alias, provider_id=provider_id, provider_model_name=model,
            order_index=position, is_default=(alias == "gpt-3.5-turbo"), config={},
        )
