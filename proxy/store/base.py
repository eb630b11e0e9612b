"""The store: one small async interface, implemented for SQLite and PostgreSQL.

The store keeps configuration (providers, provider keys, model mappings, client keys) and
the audit trail. It knows nothing of HTTP or encryption: provider keys arrive already
encrypted (``key_encrypted``) and client keys as keyed hashes (``key_hash``).

Every mutating configuration method bumps ``config_version`` in the same transaction and,
on PostgreSQL, sends ``NOTIFY openai_proxy_config`` so other replicas reload at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = [
    "ApiKeyRow",
    "AuditFilter",
    "AuditRecord",
    "ConfigSnapshot",
    "Conflict",
    "InvalidDatabaseURL",
    "MappingRow",
    "MigrationError",
    "MissingReference",
    "ProviderKeyRow",
    "ProviderRow",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoredResponse",
    "TenantRow",
    "UsageRow",
]


class StoreError(Exception):
    """Base of the store's own errors; the admin API maps them to HTTP statuses."""


class Conflict(StoreError):
    """A unique constraint would be violated (409). ``field`` names the column."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class MissingReference(StoreError):
    """A referenced row does not exist (400), e.g. ``provider_id``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class StoreUnavailable(StoreError):
    """The database cannot be reached, or is busy (503); a later retry may succeed."""


class InvalidDatabaseURL(StoreError, ValueError):
    """``DATABASE_URL`` is malformed or names an unsupported backend (start-up error)."""


class MigrationError(StoreError):
    """Migrations could not be read or applied (start-up error)."""


@dataclass(slots=True)
class ProviderRow:
    id: int
    name: str
    provider_type: str
    base_url: str
    config: dict[str, Any]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    #: ``config.headers`` as one Fernet token (``proxy.header_secrets``), None if none
    headers_encrypted: str | None = None


@dataclass(slots=True)
class ProviderKeyRow:
    id: int
    provider_id: int
    name: str
    key_encrypted: str
    key_last4: str
    healthy: bool
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class MappingRow:
    id: int
    alias_name: str
    provider_id: int
    provider_model_name: str
    order_index: int
    is_default: bool
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class ApiKeyRow:
    id: int
    name: str
    key_hash: str
    key_prefix: str
    tenant: str | None
    is_admin: bool
    rpm_limit: int | None
    tpm_limit: int | None
    allowed_models: list[str] | None
    expires_at: datetime | None
    created_at: datetime
    budget_usd: float | None = None
    budget_period: str = "month"
    enabled: bool = True
    updated_at: datetime | None = None


@dataclass(slots=True)
class TenantRow:
    id: int
    name: str
    rpm_limit: int | None
    tpm_limit: int | None
    budget_usd: float | None
    budget_period: str
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class UsageRow:
    """One group of ``/admin/usage``: ``key`` is the group's value (None for "none")."""

    key: Any
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_nanos: int = 0


@dataclass(slots=True)
class AuditRecord:
    created_at: datetime
    request_id: str
    endpoint: str
    status: int
    latency_ms: float
    api_key_id: int | None = None
    tenant: str | None = None
    alias: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    stream: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    attempts: int = 0
    fallback_reasons: list[str] = field(default_factory=list)
    error: str | None = None
    request_body: str | None = None
    response_body: str | None = None
    payload_key: str | None = None
    #: the client's session (``X-Claude-Code-Session-Id``), when it sent one
    session_id: str | None = None
    cost_usd: float | None = None
    id: int | None = None


@dataclass(slots=True)
class AuditFilter:
    tenant: str | None = None
    api_key_id: int | None = None
    provider: str | None = None
    status: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    request_id: str | None = None
    alias: str | None = None
    #: the upstream model (``upstream_model``)
    model: str | None = None
    session_id: str | None = None
    #: newest first (``after_id`` then pages towards older records)
    newest_first: bool = False


@dataclass(slots=True)
class StoredResponse:
    """A Responses API object kept for ``previous_response_id`` and retrieval."""

    id: str
    scope: str
    previous_response_id: str | None
    created_at: datetime
    expires_at: datetime
    input_items: list[dict[str, Any]]
    response: dict[str, Any]
    #: ``response`` as JSON when it was already serialised (the answer's own bytes), so
    #: that storing it does not serialise it again
    response_json: bytes | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class ConfigSnapshot:
    version: int
    providers: list[ProviderRow]
    provider_keys: list[ProviderKeyRow]
    mappings: list[MappingRow]
    api_keys: list[ApiKeyRow]
    tenants: list[TenantRow] = field(default_factory=list)


class Store(Protocol):
    backend: str  # "sqlite" | "postgresql"

    async def aclose(self) -> None: ...
    async def ping(self) -> bool: ...
    async def is_migrated(self) -> bool: ...

    # configuration, read as a whole by the routing table
    async def load_config(self) -> ConfigSnapshot: ...
    async def config_version(self) -> int: ...
    async def listen(self, on_change: Callable[[], None]) -> None: ...

    # providers (deleting a provider deletes its keys and mappings)
    async def list_providers(self) -> list[ProviderRow]: ...
    async def get_provider(self, provider_id: int) -> ProviderRow | None: ...
    async def create_provider(
        self, *, name: str, provider_type: str, base_url: str, config: dict[str, Any],
        enabled: bool, headers_encrypted: str | None = None,
    ) -> ProviderRow: ...
    async def update_provider(self, provider_id: int, **fields: Any) -> ProviderRow | None: ...
    async def delete_provider(self, provider_id: int) -> bool: ...

    # provider (upstream) keys, stored encrypted
    async def list_provider_keys(self, provider_id: int | None = None) -> list[ProviderKeyRow]: ...
    async def get_provider_key(self, key_id: int) -> ProviderKeyRow | None: ...
    async def create_provider_key(
        self, *, provider_id: int, name: str, key_encrypted: str, key_last4: str
    ) -> ProviderKeyRow: ...
    async def update_provider_key(self, key_id: int, **fields: Any) -> ProviderKeyRow | None: ...
    async def delete_provider_key(self, key_id: int) -> bool: ...
    async def reencrypt_provider_keys(self, reencrypt: Callable[[str], str]) -> int:
        """Re-encrypt every provider key and every provider's headers token."""
        ...

    # model mappings
    async def list_mappings(self) -> list[MappingRow]: ...
    async def get_mapping(self, mapping_id: int) -> MappingRow | None: ...
    async def create_mapping(
        self,
        *,
        alias_name: str,
        provider_id: int,
        provider_model_name: str,
        order_index: int,
        is_default: bool,
        config: dict[str, Any],
    ) -> MappingRow: ...
    async def update_mapping(self, mapping_id: int, **fields: Any) -> MappingRow | None: ...
    async def delete_mapping(self, mapping_id: int) -> bool: ...

    # client keys, stored as keyed hashes
    async def list_api_keys(self) -> list[ApiKeyRow]: ...
    async def get_api_key(self, key_id: int) -> ApiKeyRow | None: ...
    async def create_api_key(
        self,
        *,
        name: str,
        key_hash: str,
        key_prefix: str,
        tenant: str | None,
        is_admin: bool,
        rpm_limit: int | None,
        tpm_limit: int | None,
        allowed_models: list[str] | None,
        expires_at: datetime | None,
        budget_usd: float | None = None,
        budget_period: str = "month",
        enabled: bool = True,
    ) -> ApiKeyRow: ...
    async def update_api_key(self, key_id: int, **fields: Any) -> ApiKeyRow | None: ...
    async def delete_api_key(self, key_id: int) -> bool: ...

    # KMS data keys (proxy.kms), stored only KMS-encrypted
    async def wrapped_data_key(self, key_ref: str) -> str | None: ...
    async def store_wrapped_data_key(self, key_ref: str, wrapped: str) -> str: ...
    # tenants (client keys name them in ``tenant``)
    async def list_tenants(self) -> list[TenantRow]: ...
    async def get_tenant(self, tenant_id: int) -> TenantRow | None: ...
    async def create_tenant(
        self, *, name: str, rpm_limit: int | None, tpm_limit: int | None,
        budget_usd: float | None, budget_period: str,
    ) -> TenantRow: ...
    async def update_tenant(self, tenant_id: int, **fields: Any) -> TenantRow | None: ...
    async def delete_tenant(self, tenant_id: int) -> bool: ...

    # settled spend in nano-dollars per (scope, ident, period label), added in batches
    async def add_spend(self, rows: Sequence[tuple[str, str, str, int]]) -> None: ...
    async def get_spend(
        self, keys: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], int]: ...

    # usage: requests, tokens and cost grouped by one dimension over [start, end)
    async def usage(
        self, group_by: str, start: datetime | None, end: datetime | None
    ) -> list[UsageRow]: ...

    # audit trail
    async def insert_audit(self, records: Sequence[AuditRecord]) -> None: ...
    async def list_audit(
        self, *, limit: int, after_id: int | None, filters: AuditFilter
    ) -> list[AuditRecord]: ...
    async def prune_audit(self, before: datetime) -> list[str]: ...

    # stored Responses API objects, scoped and expiring
    async def insert_responses(self, records: Sequence[StoredResponse]) -> None: ...
    async def get_response(
        self, response_id: str, scope: str | None, now: datetime
    ) -> StoredResponse | None: ...
    async def response_chain(
        self, response_id: str, scope: str, now: datetime, max_depth: int
    ) -> list[StoredResponse]: ...
    async def delete_response(self, response_id: str, scope: str) -> bool: ...
    async def prune_responses(self, before: datetime) -> int: ...
