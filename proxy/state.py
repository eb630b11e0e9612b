"""The gateway's live configuration: loaded from the store, held in memory, swapped
atomically, and kept in sync with other replicas.

Every admin change calls :meth:`Gateway.reload` on the replica that made it; other
replicas hear PostgreSQL ``NOTIFY`` (or notice the bumped ``config_version`` on their
periodic check) and reload within ``CONFIG_POLL_INTERVAL``. The hot path reads
``gateway.routes`` and ``gateway.clients`` and never queries the database.
"""

from __future__ import annotations

import asyncio
import logging

from supervisors.keypool import KeyEntry
from supervisors.root import RootSupervisor
from supervisors.spec import ProviderConfig, ProviderSpec

from .auth import ClientKeyIndex
from .crypto import DecryptionError, KeyRing
from .header_secrets import provider_headers
from .logs import register_secrets
from .metrics import Metrics
from .routing import RoutingTable
from .store.base import ConfigSnapshot, Store

__all__ = ["Gateway"]

log = logging.getLogger("proxy.state")


class Gateway:
    def __init__(
        self,
        store: Store,
        keyring: KeyRing,
        root: RootSupervisor,
        metrics: Metrics,
        *,
        secret_key: str,
        admin_api_key: str | None,
        poll_interval: float,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.root = root
        self.metrics = metrics
        self._secret_key = secret_key
        self._admin_api_key = admin_api_key
        self._poll_interval = poll_interval
        self.version = -1
        self.routes = RoutingTable((), ())
        self.clients = ClientKeyIndex((), secret_key, admin_api_key)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self.last_sync_error: str | None = None
        #: provider name -> why it is misconfigured (secrets that cannot be decrypted)
        self.misconfigured: dict[str, str] = {}
        #: secrets are stored and this replica can decrypt none of them (not ready)
        self.secrets_unreadable = False

    async def reload(self) -> None:
        """Load the whole configuration and apply it (serialised; cheap to call often)."""
        async with self._lock:
            snapshot = await self.store.load_config()
            self._apply(snapshot)

    def _apply(self, snapshot: ConfigSnapshot) -> None:
        keys_by_provider: dict[int, list[KeyEntry]] = {}
        lost_by_provider: dict[int, int] = {}
        for key in snapshot.provider_keys:
            try:
                secret = self.keyring.decrypt(key.key_encrypted)
            except DecryptionError:
                lost_by_provider[key.provider_id] = lost_by_provider.get(key.provider_id, 0) + 1
                continue
            # the stored version: a rotation (even to the same secret) revives the key
            keys_by_provider.setdefault(key.provider_id, []).append(
                (key.id, key.name, secret, key.updated_at.isoformat()))
            register_secrets(secret)
        specs: list[ProviderSpec] = []
        stored = opened = 0
        for row in snapshot.providers:
            keys = tuple(keys_by_provider.get(row.id, ()))
            lost = lost_by_provider.get(row.id, 0)
            stored += len(keys) + lost + (1 if row.headers_encrypted else 0)
            opened += len(keys)
            problems = []
            if lost:
                problems.append(f"{lost} of {len(keys) + lost} provider keys cannot be "
                                "decrypted with ENCRYPTION_KEY")
            headers_lost = False
            try:
                headers = provider_headers(self.keyring, row)
            except DecryptionError:
                headers, headers_lost = {}, True
                problems.append("config.headers cannot be decrypted with ENCRYPTION_KEY")
            else:
                opened += 1 if row.headers_encrypted else 0
                register_secrets(*headers.values())
            try:
                config = ProviderConfig.from_dict({**row.config, "headers": headers})
            except ValueError as exc:
                log.error("provider config invalid; skipped",
                          extra={"provider": row.name, "error": str(exc)})
                continue
            misconfigured = "; ".join(problems) or None
            if misconfigured and self.misconfigured.get(row.name) != misconfigured:
                log.error("provider misconfigured",
                          extra={"provider": row.name, "error": misconfigured})
            specs.append(
                ProviderSpec(
                    id=row.id,
                    name=row.name,
                    type=row.provider_type,
                    base_url=row.base_url,
                    config=config,
                    enabled=row.enabled,
                    keys=keys,
                    misconfigured=misconfigured,
                    # without its headers, or with keys and none usable, a call would go
                    # out without its credential: the provider refuses calls instead
                    refuse_calls=headers_lost or (lost > 0 and not keys),
                )
            )
        self.misconfigured = {s.name: s.misconfigured for s in specs if s.misconfigured}
        self.secrets_unreadable = stored > 0 and opened == 0
        self.root.apply(specs)
        routes = RoutingTable(specs, snapshot.mappings)
        self.routes = routes
        self.clients = ClientKeyIndex(snapshot.api_keys, self._secret_key, self._admin_api_key,
                                      snapshot.tenants)
        self.metrics.known_models = frozenset(routes.aliases) | frozenset(
            m.provider_model_name for m in snapshot.mappings
        )
        self.version = snapshot.version

    def notify(self) -> None:
        """Called on PostgreSQL NOTIFY: reload now instead of at the next poll."""
        self._wake.set()

    async def sync_forever(self) -> None:
        """Reload whenever the stored config version moves (poll + NOTIFY wake-ups)."""
        while True:
            try:
                async with asyncio.timeout(self._poll_interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                if await self.store.config_version() != self.version:
                    await self.reload()
                self.last_sync_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database blinked: keep serving cached config
                if self.last_sync_error is None:
                    log.warning("config sync failed; serving cached configuration",
                                extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
                self.last_sync_error = f"{type(exc).__name__}"
