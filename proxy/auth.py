"""Client authentication: Bearer keys checked against keyed hashes held in memory.

A presented key is HMAC-ed with ``SECRET_KEY`` and looked up by that digest; the stored
digest is then compared with ``hmac.compare_digest``. Keys that authenticated are
remembered (in memory only, bounded) until the next configuration change, so the HMAC
runs once per key, not once per request; wrong keys are never remembered. Expiry, revocation and
``allowed_models`` take effect on the next request after a configuration change. A key
with ``enabled: false`` is refused (401) until it is enabled again.

Each ``ClientKey`` also carries its tenant's policy (rate limits and budget, from the
``tenants`` table), resolved when the index is built, so the hot path never looks it up.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass

from supervisors.errors import AuthenticationFailed

from .crypto import hash_client_key
from .spend.cost import usd_to_nanos
from .store.base import ApiKeyRow, TenantRow

__all__ = ["ClientKey", "ClientKeyIndex"]


@dataclass(frozen=True, slots=True)
class ClientKey:
    id: int | None
    name: str
    tenant: str | None
    is_admin: bool
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    allowed_models: frozenset[str] | None = None
    expires_at: float | None = None
    enabled: bool = True
    #: budgets in nano-dollars (None: unlimited) and their periods (day, month, total)
    budget_nanos: int | None = None
    budget_period: str = "month"
    tenant_rpm_limit: int | None = None
    tenant_tpm_limit: int | None = None
    tenant_budget_nanos: int | None = None
    tenant_budget_period: str = "month"


_BOOTSTRAP_ADMIN = ClientKey(id=None, name="ADMIN_API_KEY", tenant=None, is_admin=True)


class ClientKeyIndex:
    def __init__(
        self, rows: Iterable[ApiKeyRow], secret_key: str, admin_api_key: str | None,
        tenants: Iterable[TenantRow] = (),
    ) -> None:
        self._secret = secret_key
        self._admin = admin_api_key
        self._admin_hash = hash_client_key(secret_key, admin_api_key) if admin_api_key else None
        self._by_hash: dict[str, tuple[str, ClientKey]] = {}
        #: presented key → its entry, so a busy key is HMAC-ed once per configuration
        #: (bounded; dropped with this index on every reload)
        self._seen: dict[str, ClientKey] = {}
        by_name = {t.name: t for t in tenants}
        for row in rows:
            tenant = by_name.get(row.tenant) if row.tenant is not None else None
            self._by_hash[row.key_hash] = (
                row.key_hash,
                ClientKey(
                    id=row.id,
                    name=row.name,
                    tenant=row.tenant,
                    is_admin=row.is_admin,
                    rpm_limit=row.rpm_limit,
                    tpm_limit=row.tpm_limit,
                    allowed_models=(
                        frozenset(row.allowed_models) if row.allowed_models is not None else None
                    ),
                    expires_at=row.expires_at.timestamp() if row.expires_at else None,
                    enabled=row.enabled,
                    budget_nanos=usd_to_nanos(row.budget_usd),
                    budget_period=row.budget_period,
                    tenant_rpm_limit=tenant.rpm_limit if tenant else None,
                    tenant_tpm_limit=tenant.tpm_limit if tenant else None,
                    tenant_budget_nanos=usd_to_nanos(tenant.budget_usd) if tenant else None,
                    tenant_budget_period=tenant.budget_period if tenant else "month",
                ),
            )

    def key_hash(self, token: str) -> str:
        """The keyed hash a credential is stored and remembered by (never the credential)."""
        return hash_client_key(self._secret, token)

    def admin_by_hash(self, token_hash: str) -> ClientKey | None:
        """The admin whose credential has ``token_hash`` while it is still valid (not
        deleted, disabled, expired or demoted): the web console's signed-in identity."""
        if self._admin_hash is not None and hmac.compare_digest(token_hash, self._admin_hash):
            return _BOOTSTRAP_ADMIN
        found = self._by_hash.get(token_hash)
        if found is None:
            return None
        key = found[1]
        if not key.is_admin or (key.expires_at is not None and key.expires_at <= time.time()):
            return None
        return key

    def authenticate(self, authorization: str | None) -> ClientKey:
        return self.authenticate_token(_bearer(authorization))

    def authenticate_token(self, token: str) -> ClientKey:
        """A key presented on its own (Anthropic's ``x-api-key``)."""
        if not token or len(token) > 512:
            raise AuthenticationFailed("Malformed API key.", code="invalid_api_key")
        key = self._seen.get(token)
        if key is None:
            key = self._lookup(token)
            if len(self._seen) >= 10_000:
                self._seen.clear()
            self._seen[token] = key
        if key.expires_at is not None and key.expires_at <= time.time():
            raise AuthenticationFailed("This API key has expired.", code="expired_api_key")
        if not key.enabled:
            raise AuthenticationFailed("This API key is disabled.", code="api_key_disabled")
        return key


    def _lookup(self, token: str) -> ClientKey:
        if not token.isascii():  # no key is; and compare_digest refuses non-ASCII text
            raise AuthenticationFailed("Incorrect API key provided.")
        if self._admin is not None and hmac.compare_digest(token, self._admin):
            return _BOOTSTRAP_ADMIN
        digest = hash_client_key(self._secret, token)
        found = self._by_hash.get(digest)
        if found is None or not hmac.compare_digest(found[0], digest):
            raise AuthenticationFailed("Incorrect API key provided.")
        return found[1]


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationFailed(
            "You didn't provide an API key. Pass it as 'Authorization: Bearer <key>'.",
            code="missing_api_key",
        )
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if (scheme.lower() != "bearer" or not token or len(token) > 512
            or not token.isascii() or not token.isprintable()):
        raise AuthenticationFailed(
            "Malformed Authorization header; expected 'Bearer <key>'.", code="invalid_api_key"
        )
    return token
