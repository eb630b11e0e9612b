"""What the supervisors report, turned into metrics, log lines and shared circuit state."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .metrics import Metrics

__all__ = ["GatewayObserver"]

log = logging.getLogger("proxy.providers")


class GatewayObserver:
    """Implements ``supervisors.provider.Observer``."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        #: set when SHARE_CIRCUIT_STATE is on: tells the other replicas
        self.on_circuit_open: Callable[[str, float], None] | None = None

    def provider_result(self, provider: str, model: str, outcome: str) -> None:
        self._metrics.provider_result(provider, model, outcome)

    def worker_restarted(self, provider: str) -> None:
        self._metrics.worker_restarted(provider)

    def circuit_opened(self, provider: str, seconds: float) -> None:
        log.warning("circuit opened", extra={"provider": provider,
                                             "retry_in_seconds": round(seconds, 3)})
        if self.on_circuit_open is not None:
            self.on_circuit_open(provider, seconds)
