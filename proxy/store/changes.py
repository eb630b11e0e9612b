"""Fan-out of configuration changes to the callbacks registered with ``Store.listen``."""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["ChangeFanout"]

log = logging.getLogger("proxy.store")


class ChangeFanout:
    """Runs every callback once per new ``config_version``; a raising callback is logged.

    Versions only grow, so a version at or below the last one seen is a duplicate (our
    own NOTIFY echoed back, or a poll that found nothing new) and is dropped.
    """

    __slots__ = ("_callbacks", "_version")

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []
        self._version: int | None = None

    def __bool__(self) -> bool:
        return bool(self._callbacks)

    def add(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def seen(self, version: int) -> None:
        """Record ``version`` as known without firing (the baseline when listening starts)."""
        if self._version is None or version > self._version:
            self._version = version

    def changed(self, version: int | None) -> None:
        """Fire for ``version``; ``None`` means "may have changed" (after a reconnect)."""
        if version is not None:
            if self._version is not None and version <= self._version:
                return
            self._version = version
        for callback in list(self._callbacks):
            try:
                callback()
            except Exception:
                log.exception("config change callback failed")
