"""``/admin/providers``: list, create, read, update, delete upstream providers.

A provider is ``{name, provider_type, base_url, config, enabled}``. ``base_url`` is
checked for its type (``validate_base_url``) and stored normalised (no trailing ``/``);
``config`` is checked with ``ProviderConfig.from_dict`` and stored as the client sent it.
``PATCH`` replaces the fields it names (``config`` as a whole object, not merged).
Names are 1-100 of ``A-Z a-z 0-9 . _ -`` (they appear in ``provider/model``, metric
labels and ``x-proxy-provider``); numeric config values also have upper bounds
(``_CONFIG_CEILINGS``: timeouts ≤ 1 day, ``max_concurrency`` ≤ 10 000, ...).

``config.headers`` values are secrets like provider keys (``proxy.header_secrets``): stored
encrypted, never in the stored ``config``, and shown masked (``****`` + last 4) in every
response. A ``PATCH`` that sends a value back exactly as shown keeps the stored one.

Deleting a provider deletes its provider keys and model mappings with it (cascade);
the response counts them: ``{"id", "deleted": true, "deleted_keys", "deleted_mappings"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from supervisors.discovery import list_models
from supervisors.errors import InvalidRequest, Unavailable
from supervisors.spec import PROVIDER_TYPES, ProviderConfig, validate_base_url

from ..appkeys import GATEWAY
from ..auth import ClientKey
from ..crypto import DecryptionError, KeyRing
from ..header_secrets import masked_headers, provider_headers, seal_headers, split_headers
from ..store.base import ProviderRow
from .admin_common import (
    admin_route,
    apply_change,
    deleted,
    fetch_row,
    iso,
    json_response,
    log_change,
    not_found,
    path_id,
)
from .admin_fields import Validator, boolean, described, json_object, parse_body, pattern, text
from .config_fields import provider_config_schema, reject_unknown_provider_keys
from .openapi import BOOL, DELETED, INT, OBJECT, STR, TIME, body_schema, list_of, obj, route
from .validate import read_json

__all__ = ["check_provider", "provider_json", "setup_routes", "store_headers"]

#: seconds a model listing may take before the admin call answers 504
_DISCOVERY_TIMEOUT = 10.0

#: upper bounds, so that no config can make a provider spawn millions of workers or
#: wait for centuries (ProviderConfig checks the lower bounds and the types)
_CONFIG_CEILINGS: dict[str, float] = {
    "timeout": 86_400.0,
    "connect_timeout": 86_400.0,
    "first_token_timeout": 86_400.0,
    "idle_timeout": 86_400.0,
    "recovery_timeout": 86_400.0,
    "max_retries": 100,
    "max_retry_wait": 3_600.0,
    "max_concurrency": 10_000,
    "worker_idle_timeout": 86_400.0,
    "queue_size": 1_000_000,
    "failure_threshold": 1_000_000,
}


def _provider_type(name: str, value: Any) -> Any:
    if not isinstance(value, str) or value not in PROVIDER_TYPES:
        raise InvalidRequest(
            f"'{name}' must be one of {', '.join(sorted(PROVIDER_TYPES))}", param=name
        )
    return value


_SCHEMA: dict[str, Validator] = {
    "name": pattern(
        r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}",
        "1-100 characters: letters, digits, '.', '_' or '-' (it names the provider in "
        "'provider/model', metrics and the x-proxy-provider header)",
    ),
    "provider_type": _provider_type,
    "base_url": text(2048, allow_empty=True),
    "config": described(json_object(), provider_config_schema()),
    "enabled": boolean(),
}
_REQUIRED = ("name", "provider_type")
PROVIDER = obj(("id", "name", "provider_type", "base_url", "config", "enabled"),
               id=INT, object=STR, name=STR, provider_type=STR, base_url=STR, config=OBJECT,
               enabled=BOOL, created_at=TIME, updated_at=TIME)


def provider_json(row: ProviderRow, keyring: KeyRing) -> dict[str, Any]:
    config = dict(row.config)
    out: dict[str, Any] = {"id": row.id, "object": "provider"}
    try:
        headers = provider_headers(keyring, row)
    except DecryptionError:
        config.pop("headers", None)
        out["error"] = "config.headers cannot be decrypted with ENCRYPTION_KEY"
    else:
        if headers or "headers" in config:
            config["headers"] = masked_headers(headers)
    out.update({
        "name": row.name,
        "provider_type": row.provider_type,
        "base_url": row.base_url,
        "config": config,
        "enabled": row.enabled,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    })
    return out


def _store_headers(
    fields: dict[str, Any], keyring: KeyRing, stored: dict[str, str] | None = None
) -> None:
    """Move ``config.headers`` out of the config into its encrypted column."""
    config, headers = split_headers(fields["config"], stored)
    fields["config"] = config
    fields["headers_encrypted"] = seal_headers(keyring, headers or {})


def _check_config(config: dict[str, Any]) -> None:
    reject_unknown_provider_keys(config)
    try:
        parsed = ProviderConfig.from_dict(config)
    except ValueError as exc:
        message = str(exc)
        field = message.split(" ", 1)[0]
        param = field if field.startswith("config.") else "config"
        raise InvalidRequest(f"Invalid provider config: {message}", param=param) from None
    for name, ceiling in _CONFIG_CEILINGS.items():
        if getattr(parsed, name) > ceiling:
            raise InvalidRequest(f"Invalid provider config: config.{name} must be <= {ceiling}",
                                 param=f"config.{name}")


def _check_base_url(provider_type: str, base_url: str) -> str:
    try:
        return validate_base_url(provider_type, base_url)
    except ValueError as exc:
        hint = {
            "openai": " (for example https://api.openai.com/v1)",
            "custom": " (an OpenAI-compatible root, usually ending in /v1)",
            "anthropic": " (for example https://api.anthropic.com)",
            "ollama": " (for example http://localhost:11434)",
        }.get(provider_type, "")
        raise InvalidRequest(
            f"Invalid base_url for a '{provider_type}' provider: {exc}{hint}", param="base_url"
        ) from None


def check_provider(body: Mapping[str, Any]) -> dict[str, Any]:
    """A new provider's fields as ``POST /admin/providers`` accepts them, checked and
    normalised (else a 400 naming the field); ``openai-proxy apply`` checks with it too."""
    fields = parse_body(body, _SCHEMA, required=_REQUIRED,
                        defaults={"base_url": "", "config": {}, "enabled": True})
    fields["base_url"] = _check_base_url(fields["provider_type"], fields["base_url"])
    _check_config(fields["config"])
    return fields


def store_headers(fields: dict[str, Any], keyring: KeyRing,
                  stored: dict[str, str] | None = None) -> None:
    """``config.headers`` moved into the encrypted column (as the admin API stores them)."""
    _store_headers(fields, keyring, stored)


@admin_route
async def list_providers(request: web.Request, client: ClientKey) -> web.Response:
    gateway = request.app[GATEWAY]
    rows = await gateway.store.list_providers()
    data = [provider_json(r, gateway.keyring) for r in rows]
    return json_response({"object": "list", "data": data})


@admin_route
async def create_provider(request: web.Request, client: ClientKey) -> web.Response:
    fields = check_provider(await read_json(request))
    gateway = request.app[GATEWAY]
    _store_headers(fields, gateway.keyring)
    row = await gateway.store.create_provider(**fields)
    await apply_change(request)
    log_change(client, "provider created", provider_id=row.id, provider=row.name)
    return json_response(provider_json(row, gateway.keyring), status=201)


@admin_route
async def get_provider(request: web.Request, client: ClientKey) -> web.Response:
    gateway = request.app[GATEWAY]
    row = await fetch_row(request, "provider", gateway.store.get_provider)
    return json_response(provider_json(row, gateway.keyring))


@admin_route
async def provider_models(request: web.Request, client: ClientKey) -> web.Response:
    """The models the upstream itself lists (OpenAI ``/models``, Anthropic ``/v1/models``,
    Ollama ``/api/tags``), asked through the provider's actor with one of its keys."""
    gateway = request.app[GATEWAY]
    row = await fetch_row(request, "provider", gateway.store.get_provider)
    sup = gateway.root.get(row.name)
    if sup is None:
        raise Unavailable(f"provider {row.name!r} is not running (disabled or failed)")
    models = await list_models(sup, within=_DISCOVERY_TIMEOUT)
    return json_response({"provider": row.name, "object": "list",
                          "data": [{"id": m, "object": "model"} for m in models]})


@admin_route
async def update_provider(request: web.Request, client: ClientKey) -> web.Response:
    provider_id = path_id(request, "provider")
    fields = parse_body(await read_json(request), _SCHEMA)
    gateway = request.app[GATEWAY]
    store = gateway.store
    current = await store.get_provider(provider_id)
    if current is None:
        raise not_found("provider", provider_id)
    if "provider_type" in fields or "base_url" in fields:
        provider_type = fields.get("provider_type", current.provider_type)
        fields["base_url"] = _check_base_url(
            provider_type, fields.get("base_url", current.base_url)
        )
    if "config" in fields:
        _check_config(fields["config"])
        try:
            stored = provider_headers(gateway.keyring, current)
        except DecryptionError:
            stored = {}
        _store_headers(fields, gateway.keyring, stored)
    row = await store.update_provider(provider_id, **fields)
    if row is None:
        raise not_found("provider", provider_id)
    await apply_change(request)
    log_change(client, "provider updated", provider_id=row.id, fields=sorted(fields))
    return json_response(provider_json(row, gateway.keyring))


@admin_route
async def delete_provider(request: web.Request, client: ClientKey) -> web.Response:
    provider_id = path_id(request, "provider")
    store = request.app[GATEWAY].store
    keys = await store.list_provider_keys(provider_id)
    mappings = [m for m in await store.list_mappings() if m.provider_id == provider_id]
    if not await store.delete_provider(provider_id):
        raise not_found("provider", provider_id)
    await apply_change(request)
    log_change(client, "provider deleted", provider_id=provider_id,
               deleted_keys=len(keys), deleted_mappings=len(mappings))
    return deleted(provider_id, deleted_keys=len(keys), deleted_mappings=len(mappings))


def setup_routes(app: web.Application) -> None:
    route(app, "GET", "/admin/providers", list_providers, "List providers",
          response=list_of(PROVIDER))
    route(app, "POST", "/admin/providers", create_provider, "Create a provider",
          body=body_schema(_SCHEMA, _REQUIRED), response=PROVIDER, status=201)
    route(app, "GET", "/admin/providers/{id}", get_provider, "Get a provider", response=PROVIDER)
    route(app, "GET", "/admin/providers/{id}/models", provider_models,
          "The models the provider lists upstream", response=list_of(OBJECT))
    route(app, "PATCH", "/admin/providers/{id}", update_provider,
          "Change a provider (the fields given)", body=body_schema(_SCHEMA), response=PROVIDER)
    route(app, "DELETE", "/admin/providers/{id}", delete_provider,
          "Delete a provider, its keys and its mappings", response=DELETED)
