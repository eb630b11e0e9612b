"""The declarative configuration file (``openai-proxy apply -f gateway.yaml``): read,
secrets resolved, every object checked by the admin API's own validators.

Format (YAML; every section optional, a section left out is not managed)::

    providers:
      - name: openai                      # identity
        provider_type: openai
        base_url: https://api.openai.com/v1
        enabled: true                     # default true
        config: {timeout: 120}            # as in POST /admin/providers
        keys:                             # the provider's keys, by name
          - name: main
            key: {env: OPENAI_API_KEY}    # or {file: /run/secrets/openai}; never inline
    models:
      - alias: gpt-4o-mini                # identity
        chain:                            # in order; entries sharing `order` form a group
          - {provider: openai, model: gpt-4o-mini, config: {temperature: 0.2}}
          - {provider: mock, model: gpt-4o-mini, default: true}
    tenants:
      - name: a                           # identity; fields of POST /admin/tenants
        budget_usd: 500
    client_keys:
      - name: team-a                      # identity
        tenant: a
        rpm_limit: 600                    # and every other field of POST /admin/api-keys

A provider key given without ``key`` keeps the stored secret (what ``export`` writes); a
header value in ``config.headers`` may also be ``{env: ...}`` or ``{file: ...}``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from supervisors.errors import InvalidRequest

from ..api.admin_api_keys import check_api_key
from ..api.admin_mappings import check_mapping
from ..api.admin_providers import check_provider
from ..api.admin_tenants import check_tenant

__all__ = ["Alias", "ClientKey", "Desired", "Entry", "FileError", "Provider", "ProviderKey",
           "Tenant", "load"]

_SECTIONS = ("providers", "models", "tenants", "client_keys")


class FileError(ValueError):
    """The file cannot be used; the message names the place (``providers[1].config``)."""


@dataclass(slots=True)
class ProviderKey:
    name: str
    secret: str | None  # None: keep the stored one


@dataclass(slots=True)
class Provider:
    name: str
    fields: dict[str, Any]  # provider_type, base_url, config, enabled (checked)
    keys: list[ProviderKey] | None  # None: keys not managed


@dataclass(slots=True)
class Entry:
    provider: str
    model: str
    order: int
    default: bool
    config: dict[str, Any]


@dataclass(slots=True)
class Alias:
    alias: str
    entries: list[Entry]


@dataclass(slots=True)
class ClientKey:
    name: str
    body: dict[str, Any]  # as sent to POST /admin/api-keys (checked when applied)


@dataclass(slots=True)
class Tenant:
    name: str
    fields: dict[str, Any]  # as POST /admin/tenants checks them


@dataclass(slots=True)
class Desired:
    providers: list[Provider] | None = None
    models: list[Alias] | None = None
    client_keys: list[ClientKey] | None = None
    tenants: list[Tenant] | None = None


def _secret(ref: Any, where: str, base: Path) -> str:
    if isinstance(ref, dict) and set(ref) == {"env"} and isinstance(ref["env"], str):
        value = os.environ.get(ref["env"])
        if not value:
            raise FileError(f"{where}: environment variable {ref['env']} is not set")
        return value.strip()
    if isinstance(ref, dict) and set(ref) == {"file"} and isinstance(ref["file"], str):
        path = (base / ref["file"]).expanduser()
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise FileError(f"{where}: cannot read {path}: {exc.strerror}") from None
    if isinstance(ref, str):
        raise FileError(f"{where}: inline secrets are refused; write {{env: NAME}} or "
                        "{file: path}")
    raise FileError(f"{where}: must be {{env: NAME}} or {{file: path}}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FileError(f"{where}: must be a mapping")
    return value


def _only(value: Any, fields: set[str], where: str) -> dict[str, Any]:
    """``value`` as a mapping holding none but ``fields``."""
    found = _mapping(value, where)
    unknown = set(found) - fields
    if unknown:
        raise FileError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return found


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise FileError(f"{where}: must be a list")
    return value


def _checked(where: str, check: Any, body: dict[str, Any]) -> dict[str, Any]:
    try:
        return dict(check(body))
    except InvalidRequest as err:
        place = f"{where}.{err.param}" if err.param else where
        raise FileError(f"{place}: {err.message}") from None


def _unique(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise FileError(f"{where}: '{name}' appears twice")
        seen.add(name)


def _providers(raw: list[Any], base: Path) -> list[Provider]:
    out = []
    for i, item in enumerate(raw):
        where = f"providers[{i}]"
        entry = dict(_mapping(item, where))
        keys_raw = entry.pop("keys", None)
        config = dict(_mapping(entry.get("config", {}), f"{where}.config"))
        if isinstance(config.get("headers"), dict):
            config["headers"] = {
                k: v if isinstance(v, str) else _secret(v, f"{where}.config.headers.{k}", base)
                for k, v in config["headers"].items()}
        entry["config"] = config
        fields = _checked(where, check_provider, entry)
        keys = None
        if keys_raw is not None:
            keys = []
            for j, key in enumerate(_list(keys_raw, f"{where}.keys")):
                kw = f"{where}.keys[{j}]"
                key = _mapping(key, kw)
                if not isinstance(key.get("name"), str) or not key["name"].strip():
                    raise FileError(f"{kw}.name: required")
                _only(key, {"name", "key"}, kw)
                secret = _secret(key["key"], f"{kw}.key", base) if "key" in key else None
                keys.append(ProviderKey(key["name"], secret))
            _unique([k.name for k in keys], f"{where}.keys")
        name = fields.pop("name")
        out.append(Provider(name, fields, keys))
    _unique([p.name for p in out], "providers")
    return out


def _models(raw: list[Any]) -> list[Alias]:
    out = []
    for i, item in enumerate(raw):
        where = f"models[{i}]"
        item = _only(item, {"alias", "chain"}, where)
        entries = []
        for j, raw_entry in enumerate(_list(item.get("chain"), f"{where}.chain")):
            ew = f"{where}.chain[{j}]"
            e = _only(raw_entry, {"provider", "model", "order", "default", "config"}, ew)
            if not isinstance(e.get("provider"), str):
                raise FileError(f"{ew}.provider: required (a provider name)")
            fields = _checked(ew, check_mapping, {
                "alias_name": item.get("alias"), "provider_id": 1,
                "provider_model_name": e.get("model"), "order_index": e.get("order", j),
                "is_default": e.get("default", False), "config": e.get("config", {}),
            })
            entries.append(Entry(e["provider"], fields["provider_model_name"],
                                 fields["order_index"], fields["is_default"], fields["config"]))
        out.append(Alias(str(item["alias"]), entries))
    _unique([a.alias for a in out], "models")
    return out


def _client_keys(raw: list[Any]) -> list[ClientKey]:
    out = []
    for i, item in enumerate(raw):
        where = f"client_keys[{i}]"
        body = dict(_mapping(item, where))
        probe = {k: v for k, v in body.items() if k != "expires_at"}
        _checked(where, check_api_key, probe)  # expires_at is checked when it changes
        out.append(ClientKey(str(body["name"]), body))
    _unique([k.name for k in out], "client_keys")
    return out


def _tenants(raw: list[Any]) -> list[Tenant]:
    out = []
    for i, item in enumerate(raw):
        fields = _checked(f"tenants[{i}]", check_tenant, dict(_mapping(item, f"tenants[{i}]")))
        out.append(Tenant(fields["name"], fields))
    _unique([t.name for t in out], "tenants")
    return out


def load(path: str) -> Desired:
    """The desired configuration in ``path`` (``-`` reads standard input)."""
    try:
        text = Path("/dev/stdin").read_text() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise FileError(f"{path}: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise FileError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    doc = _mapping(doc, path)
    unknown = set(doc) - set(_SECTIONS)
    if unknown:
        raise FileError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}; "
                        f"expected {', '.join(_SECTIONS)}")
    base = Path(path).parent if path != "-" else Path.cwd()
    desired = Desired()
    if "providers" in doc:
        desired.providers = _providers(_list(doc["providers"], "providers"), base)
    if "models" in doc:
        desired.models = _models(_list(doc["models"], "models"))
    if "tenants" in doc:
        desired.tenants = _tenants(_list(doc["tenants"], "tenants"))
    if "client_keys" in doc:
        desired.client_keys = _client_keys(_list(doc["client_keys"], "client_keys"))
    return desired
