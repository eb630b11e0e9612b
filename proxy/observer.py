"""What the supervisors report, turned into metrics and shared circuit state (the
supervisors log their own state changes, with the request that caused each)."""

from __future__ import annotations

from collections.abc import Callable

from .metrics import Metrics

__all__ = ["GatewayObserver"]


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
        # the supervisor logs the transition itself, with the request that caused it
        if self.on_circuit_open is not None:
            self.on_circuit_open(provider, seconds)
