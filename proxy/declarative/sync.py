"""Make the store match a declarative file (``apply``), or write it out (``export``).

Objects are matched by name (providers, a provider's keys, tenants, client keys) or by alias (a
model's chain; its entries by order, provider and model). An object named in the file is
made to match it exactly; an object the file does not name is kept and listed, unless
``prune`` deletes it. Every change goes through the store the admin API uses, checked by
the admin API's validators (``source``), so the running gateways pick it up as they pick
up an admin call (config version, NOTIFY).

The plan is a list of :class:`Change` whose ``line`` is the diff shown before anything
is done; ``run`` then applies them in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..api.admin_api_keys import API_KEY_DEFAULTS, API_KEY_POLICY, check_api_key
from ..api.admin_common import iso
from ..api.admin_providers import store_headers
from ..api.admin_tenants import TENANT_DEFAULTS, TENANT_POLICY
from ..crypto import (
    DecryptionError,
    KeyRing,
    client_key_prefix,
    generate_client_key,
    hash_client_key,
    key_last4,
)
from ..header_secrets import masked_headers, provider_headers, split_headers
from ..store.base import ApiKeyRow, MappingRow, ProviderRow, Store
from .source import Alias, ClientKey, Desired, Entry, FileError, Provider, Tenant

__all__ = ["Change", "export", "plan"]

Action = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class Change:
    line: str
    action: Action | None  # None: nothing to do (a note)


class _Plan:
    def __init__(self, store: Store, keyring: KeyRing, secret_key: str, prune: bool) -> None:
        self.store, self.keyring, self.secret_key, self.prune = store, keyring, secret_key, prune
        self.changes: list[Change] = []
        self.provider_ids: dict[str, int] = {}
        self.new_keys: list[tuple[str, str]] = []

    def add(self, line: str, action: Action | None) -> None:
        self.changes.append(Change(line, action))

    # -- providers ----------------------------------------------------------------------

    async def providers(self, desired: list[Provider]) -> None:
        current = {p.name: p for p in await self.store.list_providers()}
        self.provider_ids = {name: row.id for name, row in current.items()}
        for spec in desired:
            row = current.get(spec.name)
            if row is None:
                self._create_provider(spec)
            else:
                await self._update_provider(spec, row)
        for name, row in current.items():
            if name not in {p.name for p in desired}:
                self._unnamed(f"provider {name}", _call(self.store.delete_provider, row.id))

    def _create_provider(self, spec: Provider) -> None:
        fields = {"name": spec.name, **spec.fields}
        store_headers(fields, self.keyring)

        async def create() -> None:
            row = await self.store.create_provider(**fields)
            self.provider_ids[spec.name] = row.id
            for key in spec.keys or ():
                if key.secret is None:
                    raise FileError(f"provider {spec.name} key {key.name}: new, needs 'key'")
                await self.store.create_provider_key(
                    provider_id=row.id, name=key.name, key_encrypted=self.keyring.encrypt(
                        key.secret), key_last4=key_last4(key.secret))

        keys = ", ".join(k.name for k in spec.keys or ()) or "no keys"
        self.add(f"+ provider {spec.name} ({spec.fields['provider_type']}, "
                 f"{spec.fields['base_url']}; keys: {keys})", create)

    async def _update_provider(self, spec: Provider, row: ProviderRow) -> None:
        stored_headers = provider_headers(self.keyring, row)
        config, headers = split_headers(dict(spec.fields["config"]), stored_headers)
        changed = {k: v for k, v in (("provider_type", spec.fields["provider_type"]),
                                     ("base_url", spec.fields["base_url"]),
                                     ("enabled", spec.fields["enabled"]),
                                     ("config", config)) if getattr(row, k) != v}
        if (headers or {}) != stored_headers:
            changed["headers"] = masked_headers(headers or {})
        if changed:
            fields = {k: v for k, v in changed.items() if k != "headers"}
            fields["config"] = spec.fields["config"]
            store_headers(fields, self.keyring, stored_headers)
            self.add(f"~ provider {spec.name}: " + _describe(changed, row),
                     _call(self.store.update_provider, row.id, **fields))
        if spec.keys is not None:
            await self._keys(spec, row)

    async def _keys(self, spec: Provider, row: ProviderRow) -> None:
        current = {k.name: k for k in await self.store.list_provider_keys(row.id)}
        assert spec.keys is not None
        for key in spec.keys:
            stored = current.get(key.name)
            label = f"provider key {spec.name}/{key.name}"
            if stored is None:
                if key.secret is None:
                    raise FileError(f"{label}: not stored yet, so it needs 'key'")
                self.add(f"+ {label}", _call(
                    self.store.create_provider_key, provider_id=row.id, name=key.name,
                    key_encrypted=self.keyring.encrypt(key.secret),
                    key_last4=key_last4(key.secret)))
                continue
            if key.secret is None:
                continue
            try:
                same = self.keyring.decrypt(stored.key_encrypted) == key.secret
            except DecryptionError:
                same = False
            if not same:
                self.add(f"~ {label}: secret replaced (...{key_last4(key.secret)})", _call(
                    self.store.update_provider_key, stored.id,
                    key_encrypted=self.keyring.encrypt(key.secret),
                    key_last4=key_last4(key.secret), healthy=True))
        for name, stored in current.items():
            if name not in {k.name for k in spec.keys}:
                self.add(f"- provider key {spec.name}/{name}",
                         _call(self.store.delete_provider_key, stored.id))

    # -- models -------------------------------------------------------------------------

    async def models(self, desired: list[Alias]) -> None:
        rows = await self.store.list_mappings()
        names = {v: k for k, v in self.provider_ids.items()} or {
            p.id: p.name for p in await self.store.list_providers()}
        by_alias: dict[str, list[MappingRow]] = {}
        for m in rows:
            by_alias.setdefault(m.alias_name, []).append(m)
        for spec in desired:
            self._chain(spec, by_alias.get(spec.alias, []), names)
        for alias, chain in sorted(by_alias.items()):
            if alias not in {a.alias for a in desired}:
                self._unnamed(f"model {alias}", _call(_delete_rows, self.store, chain))

    def _chain(self, spec: Alias, rows: list[MappingRow], names: dict[int, str]) -> None:
        current = {(m.order_index, names.get(m.provider_id, "?"), m.provider_model_name): m
                   for m in rows}
        wanted = {(e.order, e.provider, e.model): e for e in spec.entries}
        for ident, stale in current.items():
            if ident not in wanted:
                self.add(f"- model {spec.alias}[{ident[0]}] -> {ident[1]}/{ident[2]}",
                         _call(self.store.delete_mapping, stale.id))
        for ident, entry in wanted.items():
            label = f"model {spec.alias}[{entry.order}] -> {entry.provider}/{entry.model}"
            row = current.get(ident)
            if row is None:
                self.add(f"+ {label}" + _entry_note(entry),
                         _call(self._create_mapping, spec.alias, entry))
            elif (row.is_default, row.config) != (entry.default, entry.config):
                self.add(f"~ {label}: " + _describe(
                    {"default": entry.default, "config": entry.config},
                    {"default": row.is_default, "config": row.config}),
                    _call(self.store.update_mapping, row.id, is_default=entry.default,
                          config=entry.config))

    async def _create_mapping(self, alias: str, entry: Entry) -> None:
        provider_id = self.provider_ids.get(entry.provider)
        if provider_id is None:
            found = {p.name: p.id for p in await self.store.list_providers()}
            if entry.provider not in found:
                raise FileError(f"model {alias}: no provider named '{entry.provider}'")
            provider_id = found[entry.provider]
        await self.store.create_mapping(
            alias_name=alias, provider_id=provider_id, provider_model_name=entry.model,
            order_index=entry.order, is_default=entry.default, config=entry.config)

    # -- tenants ------------------------------------------------------------------------

    async def tenants(self, desired: list[Tenant]) -> None:
        current = {t.name: t for t in await self.store.list_tenants()}
        for spec in desired:
            row = current.get(spec.name)
            if row is None:
                self.add(f"+ tenant {spec.name}" + _policy(spec.fields, TENANT_DEFAULTS),
                         _call(self.store.create_tenant, **spec.fields))
                continue
            changed = {k: spec.fields[k] for k in TENANT_POLICY
                       if getattr(row, k) != spec.fields[k]}
            if changed:
                self.add(f"~ tenant {spec.name}: " + _describe(changed, row),
                         _call(self.store.update_tenant, row.id, **changed))
        for name, unnamed in current.items():
            if name not in {t.name for t in desired}:
                self._unnamed(f"tenant {name}", _call(self.store.delete_tenant, unnamed.id))

    # -- client keys --------------------------------------------------------------------

    async def client_keys(self, desired: list[ClientKey]) -> None:
        current: dict[str, ApiKeyRow] = {}
        for stored in await self.store.list_api_keys():
            if stored.name in current and stored.name in {k.name for k in desired}:
                raise FileError(f"client key {stored.name}: several stored keys have this "
                                "name; rename or delete the others first")
            current[stored.name] = stored
        for spec in desired:
            row = current.get(spec.name)
            body = dict(spec.body)
            if row is not None and "expires_at" in body and (
                    body["expires_at"] == iso(row.expires_at)):
                body.pop("expires_at")  # unchanged: a past expiry is not refused again
            try:
                fields = check_api_key(body)
            except Exception as exc:
                raise FileError(f"client key {spec.name}: {getattr(exc, 'message', exc)}") from None
            if row is None:
                self.add(f"+ client key {spec.name}" + _policy(fields, API_KEY_DEFAULTS),
                         _call(self._create_client_key, fields))
                continue
            if "expires_at" not in body:
                fields["expires_at"] = row.expires_at
            changed = {k: fields[k] for k in API_KEY_POLICY if getattr(row, k) != fields[k]}
            if changed:
                self.add(f"~ client key {spec.name}: " + _describe(changed, row),
                         _call(self.store.update_api_key, row.id, **changed))
        for name, unnamed in current.items():
            if name not in {k.name for k in desired}:
                self._unnamed(f"client key {name}", _call(self.store.delete_api_key, unnamed.id))

    async def _create_client_key(self, fields: dict[str, Any]) -> None:
        plaintext = generate_client_key()
        await self.store.create_api_key(
            key_hash=hash_client_key(self.secret_key, plaintext),
            key_prefix=client_key_prefix(plaintext), **fields)
        self.new_keys.append((fields["name"], plaintext))

    def _unnamed(self, label: str, delete: Action) -> None:
        if self.prune:
            self.add(f"- {label} (not in the file; --prune)", delete)
        else:
            self.add(f"  {label}: not in the file, kept (--prune deletes it)", None)


def _call(fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Action:
    """A change to run later: ``fn(*args, **kwargs)``, its result dropped."""

    async def run() -> None:
        await fn(*args, **kwargs)

    return run


async def _delete_rows(store: Store, rows: list[MappingRow]) -> None:
    for row in rows:
        await store.delete_mapping(row.id)


def _entry_note(entry: Entry) -> str:
    notes = [f"config {entry.config}"] if entry.config else []
    if entry.default:
        notes.append("default route")
    return f" ({'; '.join(notes)})" if notes else ""


def _policy(fields: dict[str, Any], defaults: dict[str, Any]) -> str:
    shown = {k: v for k, v in fields.items() if k != "name" and v != defaults.get(k)}
    return f" ({', '.join(f'{k}={v}' for k, v in shown.items())})" if shown else ""


def _describe(changed: dict[str, Any], before: Any) -> str:
    def old(name: str) -> Any:
        if isinstance(before, dict):
            return before.get(name)
        if name == "headers":
            return "(stored)"
        return getattr(before, name, None)

    return "; ".join(f"{k} {old(k)!r} -> {v!r}" for k, v in changed.items())


async def plan(store: Store, desired: Desired, keyring: KeyRing, secret_key: str,
               *, prune: bool = False) -> tuple[list[Change], list[tuple[str, str]]]:
    """The changes that make ``store`` match ``desired``, and the list that will receive
    ``(name, plaintext)`` of each client key created when they run."""
    p = _Plan(store, keyring, secret_key, prune)
    if desired.providers is not None:
        await p.providers(desired.providers)
    if desired.models is not None:
        await p.models(desired.models)
    if desired.tenants is not None:
        await p.tenants(desired.tenants)
    if desired.client_keys is not None:
        await p.client_keys(desired.client_keys)
    # deletions of whole providers last: their mappings go with them
    p.changes.sort(key=lambda c: c.line.startswith("- provider ") and "--prune" in c.line)
    return p.changes, p.new_keys


async def export(store: Store, keyring: KeyRing) -> dict[str, Any]:
    """The current configuration in the file's format, without any secret."""
    providers = await store.list_providers()
    names = {p.id: p.name for p in providers}
    keys = await store.list_provider_keys()
    out_providers = []
    for row in providers:
        config = dict(row.config)
        try:
            headers = provider_headers(keyring, row)
        except DecryptionError:
            headers = {}
        if headers:
            config["headers"] = masked_headers(headers)
        entry: dict[str, Any] = {"name": row.name, "provider_type": row.provider_type,
                                 "base_url": row.base_url, "enabled": row.enabled}
        if config:
            entry["config"] = config
        entry["keys"] = [{"name": k.name} for k in keys if k.provider_id == row.id]
        out_providers.append(entry)
    chains: dict[str, list[MappingRow]] = {}
    for m in await store.list_mappings():
        chains.setdefault(m.alias_name, []).append(m)
    models = []
    for alias, rows in sorted(chains.items()):
        chain = []
        for position, m in enumerate(sorted(rows, key=lambda r: (r.order_index, r.id))):
            item: dict[str, Any] = {"provider": names.get(m.provider_id, "?"),
                                    "model": m.provider_model_name}
            if m.order_index != position:
                item["order"] = m.order_index
            if m.is_default:
                item["default"] = True
            if m.config:
                item["config"] = m.config
            chain.append(item)
        models.append({"alias": alias, "chain": chain})
    tenants = []
    for t in await store.list_tenants():
        tenant: dict[str, Any] = {"name": t.name}
        tenant.update({name: getattr(t, name) for name in TENANT_POLICY
                       if name != "name" and getattr(t, name) != TENANT_DEFAULTS.get(name)})
        tenants.append(tenant)
    client_keys = []
    for k in await store.list_api_keys():
        policy: dict[str, Any] = {"name": k.name}
        for name in API_KEY_POLICY:
            value = getattr(k, name)
            if name == "expires_at":
                value = iso(value)
            if name != "name" and value != API_KEY_DEFAULTS.get(name):
                policy[name] = value
        client_keys.append(policy)
    return {"providers": out_providers, "models": models, "tenants": tenants,
            "client_keys": client_keys}
