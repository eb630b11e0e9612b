"""A provider's pool of upstream API keys: fair selection and per-key health.

- An answer about the credential (401; a 403 saying the key is invalid, see
  :mod:`supervisors.credentials`) (:meth:`KeyPool.mark_unauthorized`): the key is unhealthy
  until it is rotated (even to the same secret) or a re-check succeeds; each unhealthy key
  is offered for a re-check every ``recheck_interval`` seconds (:meth:`KeyPool.recheck_candidate`).
- 429 (:meth:`KeyPool.cool_down`): the key is skipped until its cool-down ends (at most
  ``MAX_COOLDOWN``; a non-finite wait counts as none given).
- Selection is round-robin over usable keys: each in turn, O(number of keys) at worst.

Outcome methods return True when they changed the key's state, so that the caller logs
each change once. Keys are shared, not leased: several requests may use one key at once,
so there is nothing to give back. A reload builds new ``PoolKey`` objects for new and
rotated keys, so outcomes reported late on a replaced object do not touch the pool.
Pure and synchronous; the clock is injected.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from supervisors.masking import mask_secret, redact_secret

__all__ = [
    "MAX_COOLDOWN", "RECHECK_INTERVAL", "KeyEntry", "KeyId", "KeyPool", "PoolKey", "iso_time"]

KeyId = int | str


def iso_time(wall: float | None) -> str | None:
    """A wall-clock time for ``/admin/health``: ISO 8601 UTC with a ``Z``."""
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
#: ``(id, name, secret)``, or with a fourth item, the stored version of the key (its
#: ``updated_at``): a new version is a rotation, which makes the key healthy again even
#: when the secret is the same
KeyEntry = tuple[KeyId, str, str] | tuple[KeyId, str, str, str]

#: seconds between re-checks of a key taken out after a 401/403 (well under the five
#: minutes a provider with all keys out would otherwise stay down)
RECHECK_INTERVAL = 30.0
#: the longest cool-down a 429 can impose on a key
MAX_COOLDOWN = 3600.0
_DEFAULT_COOLDOWN = 5.0


@dataclass(slots=True)
class PoolKey:
    id: KeyId
    name: str
    secret: str = field(repr=False)
    version: str = ""
    healthy: bool = True
    cooldown_until: float = 0.0
    last_error: str | None = None
    last_error_at: float | None = None  # wall-clock time of the last error
    recovered_at: float | None = None  # wall-clock time the key worked again after it
    recheck_at: float = 0.0  # when an unhealthy key may next be handed out for a re-check

    @property
    def masked(self) -> str:
        return mask_secret(self.secret)

    def usable(self, now: float) -> bool:
        return self.healthy and self.cooldown_until <= now


class KeyPool:
    def __init__(
        self,
        keys: Iterable[KeyEntry] = (),
        *,
        recheck_interval: float = RECHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if recheck_interval <= 0:
            raise ValueError("recheck_interval must be > 0")
        self._recheck_interval = recheck_interval
        self._clock = clock
        self._wall = wall
        self._keys: list[PoolKey] = []
        self._cursor = 0  # index of the key that gets the next turn
        self.replace(keys)

    # -- selection -----------------------------------------------------------------

    def acquire(self, exclude: Collection[KeyId] = ()) -> PoolKey | None:
        """The next usable key in round-robin order whose id is not in ``exclude``
        (keys this request already tried); None if there is none."""
        now = self._clock()
        skip = exclude if isinstance(exclude, set | frozenset) else frozenset(exclude)
        count = len(self._keys)
        for step in range(count):
            index = (self._cursor + step) % count
            key = self._keys[index]
            if key.usable(now) and key.id not in skip:
                self._cursor = (index + 1) % count
                return key
        return None

    def recheck_candidate(self) -> PoolKey | None:
        """An unhealthy key due for a re-check (``recheck_interval`` after it failed or
        was last handed out), or None. Each key is handed out at most once per interval."""
        now = self._clock()
        due = [k for k in self._keys if not k.healthy and k.recheck_at <= now]
        if not due:
            return None
        key = min(due, key=lambda k: k.recheck_at)  # the longest-waiting first
        key.recheck_at = now + self._recheck_interval
        return key

    def next_available_in(self) -> float | None:
        """Seconds until some key is usable (0 if one is usable now); None if no key
        will become usable by waiting (all unhealthy, or the pool is empty)."""
        now = self._clock()
        waits = [max(0.0, k.cooldown_until - now) for k in self._keys if k.healthy]
        return min(waits) if waits else None

    # -- outcomes ------------------------------------------------------------------

    def mark_unauthorized(self, key: PoolKey, reason: str) -> bool:
        """401/403 about the key: unhealthy until replaced or re-checked successfully.
        True if the key was healthy until now."""
        changed = key.healthy
        key.healthy = False
        key.last_error = redact_secret(reason, key.secret)
        key.last_error_at = self._wall()
        key.recheck_at = self._clock() + self._recheck_interval
        return changed

    def cool_down(self, key: PoolKey, seconds: float | None, reason: str) -> bool:
        """429: skip the key for ``seconds`` (an earlier, longer cool-down is kept;
        None or non-finite: a default; capped at ``MAX_COOLDOWN``). True if the key was
        not cooling down until now."""
        if seconds is None or not math.isfinite(seconds):
            seconds = _DEFAULT_COOLDOWN
        now = self._clock()
        changed = key.cooldown_until <= now
        until = now + min(max(0.0, seconds), MAX_COOLDOWN)
        key.cooldown_until = max(key.cooldown_until, until)
        key.last_error = redact_secret(reason, key.secret)
        key.last_error_at = self._wall()
        return changed

    def mark_success(self, key: PoolKey) -> bool:
        """The key worked: healthy again, last error cleared (a running cool-down stays).
        True if the key was unhealthy until now."""
        changed = not key.healthy
        key.healthy = True
        if key.last_error is not None:
            key.recovered_at = self._wall()
        key.last_error = None
        return changed

    # -- reload --------------------------------------------------------------------

    def replace(self, keys: Iterable[KeyEntry]) -> None:
        """Load a new key set. A key whose id, secret and version are unchanged keeps its
        object and health; new and rotated keys (a new version, even with the same
        secret) start healthy; missing keys are dropped."""
        current = {k.id: k for k in self._keys}
        fresh: list[PoolKey] = []
        seen: set[KeyId] = set()
        for entry in keys:
            key_id, name, secret = entry[0], entry[1], entry[2]
            version = entry[3] if len(entry) > 3 else ""
            if key_id in seen:
                raise ValueError(f"duplicate key id {key_id!r}")
            seen.add(key_id)
            old = current.get(key_id)
            if old is not None and old.secret == secret and old.version == version:
                old.name = name
                fresh.append(old)
            else:
                fresh.append(PoolKey(key_id, name, secret, version))
        self._keys = fresh
        self._cursor = self._cursor % len(fresh) if fresh else 0

    # -- inspection ----------------------------------------------------------------

    def now(self) -> float:
        """The pool's clock."""
        return self._clock()

    @property
    def total(self) -> int:
        return len(self._keys)

    @property
    def healthy_count(self) -> int:
        """Keys usable now: healthy and not cooling down."""
        now = self._clock()
        return sum(1 for k in self._keys if k.usable(now))

    def snapshot(self) -> list[dict[str, Any]]:
        """For ``/admin/health`` and ``/admin/keys``: never the secret."""
        now = self._clock()
        return [
            {
                "id": k.id,
                "name": k.name,
                "key_masked": k.masked,
                "healthy": k.healthy,
                "cooling_for": round(max(0.0, k.cooldown_until - now), 3),
                "last_error": k.last_error,
                "last_error_at": iso_time(k.last_error_at),
                "recovered_at": iso_time(k.recovered_at),
            }
            for k in self._keys
        ]
