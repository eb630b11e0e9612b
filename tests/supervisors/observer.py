"""The supervisors' observer for tests: counts restarts, ignores the rest."""

from __future__ import annotations


class CountingObserver:
    def __init__(self) -> None:
        self.restarts = 0

    def provider_result(self, provider: str, model: str, outcome: str) -> None:
        pass

    def worker_restarted(self, provider: str) -> None:
        self.restarts += 1

    def circuit_opened(self, provider: str, seconds: float) -> None:
        pass
