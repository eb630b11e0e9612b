"""The provider actor: one supervisor per provider.

It owns a bounded inbox, a fixed set of worker tasks (its concurrency limit), its
circuit breaker and its key pool. Workers that crash are restarted one-for-one while
the restart intensity allows; past it the supervisor gives up with
:class:`Escalation`, and the root supervisor marks the provider failed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from .adapters.base import Adapter
from .adapters.registry import adapter_for
from .circuit import CircuitBreaker, CircuitState
from .errors import InternalError, ProxyError, Unavailable
from .keypool import KeyPool
from .messages import Call
from .restart import RestartIntensity
from .spec import ProviderSpec
from .transport import Transport
from .worker import worker_loop

__all__ = ["Escalation", "Observer", "ProviderSupervisor"]

log = logging.getLogger("supervisors.provider")


class Observer(Protocol):
    """What the supervisors report; the proxy turns it into metrics."""

    def provider_result(self, provider: str, model: str, outcome: str) -> None: ...
    def worker_restarted(self, provider: str) -> None: ...
    def circuit_opened(self, provider: str, seconds: float) -> None: ...


class Escalation(Exception):
    """Workers crashed faster than the restart intensity allows."""


class ProviderSupervisor:
    def __init__(
        self,
        spec: ProviderSpec,
        transport: Transport,
        observer: Observer,
        *,
        intensity: RestartIntensity | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.adapter: Adapter = adapter_for(spec.type)
        self.transport = transport
        self.observer = observer
        config = spec.config
        self.inbox: asyncio.Queue[Call] = asyncio.Queue(config.queue_size)
        # a failed probe doubles the wait, up to ten times the configured recovery
        self.breaker = CircuitBreaker(
            config.failure_threshold,
            config.recovery_timeout,
            max_recovery_timeout=config.recovery_timeout * 10,
        )
        self.pool = KeyPool(spec.keys)
        self.intensity = intensity or RestartIntensity(max_restarts=5, period=10.0)
        self.state = "starting"
        self.in_flight = 0
        #: worker tasks that died and were restarted (a bug outside any one call)
        self.restarts = 0
        #: calls failed by a bug of ours (500); the worker carried on
        self.crashes = 0
        #: calls failed by the upstream (charged to the circuit breaker)
        self.upstream_faults = 0
        self.last_error: str | None = None
        #: loop time after which one request may re-check a key that failed with 401/403
        self.next_recheck = 0.0
        self._workers: set[asyncio.Task[None]] = set()
        #: set by workers when nothing is queued or running (for drain)
        self._idle = asyncio.Event()

    # -- messages from the router -------------------------------------------------------

    def submit(self, call: Call) -> None:
        """Put ``call`` in the inbox or raise ``Unavailable`` at once (never waits)."""
        if self.state != "running":
            raise Unavailable(f"provider {self.name!r} is {self.state}", provider=self.name)
        if not self.breaker.allow():
            raise Unavailable(
                f"circuit open for provider {self.name!r}",
                retry_after=max(1.0, self.breaker.retry_after()),
                provider=self.name,
                code="circuit_open",
            )
        try:
            self.inbox.put_nowait(call)
        except asyncio.QueueFull:
            self.breaker.release()
            raise Unavailable(
                f"provider {self.name!r} is overloaded (inbox full)",
                retry_after=1.0,
                provider=self.name,
                code="overloaded",
            ) from None

    # -- outcomes reported by workers --------------------------------------------------

    def record_success(self, call: Call) -> None:
        self.breaker.record_success()
        self.observer.provider_result(self.name, str(call.body.get("model", "")), "success")

    def record_failure(self, err: ProxyError, call: Call) -> None:
        if err.provider_fault:
            self.upstream_faults += 1
            was_open = self.breaker.state is CircuitState.OPEN
            self.breaker.record_failure()
            self.last_error = err.message[:300]
            if not was_open and self.breaker.state is CircuitState.OPEN:
                self.observer.circuit_opened(self.name, self.breaker.retry_after())
        else:
            self.breaker.release()
            if isinstance(err, InternalError):
                self.crashes += 1
                self.last_error = err.message[:300]
        self.observer.provider_result(self.name, str(call.body.get("model", "")), err.reason)

    # -- lifecycle ---------------------------------------------------------------------

    def reconfigure(self, spec: ProviderSpec) -> None:
        """Apply a change that needs no new inbox or workers (keys, timeouts, breaker)."""
        self.spec = spec
        self.pool.replace(spec.keys)
        self.breaker.reconfigure(spec.config.failure_threshold, spec.config.recovery_timeout)

    def needs_replacement(self, spec: ProviderSpec) -> bool:
        old = self.spec
        return (
            spec.type != old.type
            or spec.base_url != old.base_url
            or spec.config.queue_size != old.config.queue_size
            or spec.config.max_concurrency != old.config.max_concurrency
            or dict(spec.config.extra) != dict(old.config.extra)
        )

    def call_done(self) -> None:
        self.in_flight -= 1
        if not self.in_flight and self.inbox.empty():
            self._idle.set()

    def _spawn(self) -> None:
        task = asyncio.create_task(worker_loop(self), name=f"worker:{self.name}")
        self._workers.add(task)

    async def run(self) -> None:
        """Start the workers and restart crashed ones; returns when stopped."""
        for _ in range(self.spec.config.max_concurrency):
            self._spawn()
        self.state = "running"
        try:
            while self._workers:
                done, _ = await asyncio.wait(self._workers, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    self._workers.discard(task)
                    if task.cancelled():
                        continue
                    exc = task.exception()
                    if exc is None:
                        continue
                    self.restarts += 1
                    self.last_error = f"worker crashed: {type(exc).__name__}: {exc}"[:300]
                    self.observer.worker_restarted(self.name)
                    log.error(
                        "worker crashed",
                        extra={"provider": self.name, "error": type(exc).__name__},
                        exc_info=exc,
                    )
                    if not self.intensity.allow():
                        self.state = "failed"
                        self._fail_queued("provider failed: its workers keep crashing")
                        raise Escalation(f"provider {self.name!r}: {self.last_error}")
                    self._spawn()
        finally:
            await self._cancel_workers()

    async def drain(self, grace: float) -> None:
        """Refuse new calls, let queued and running ones finish for up to ``grace`` seconds."""
        if self.state == "running":
            self.state = "stopping"
        if self.in_flight or not self.inbox.empty():
            self._idle.clear()
            try:
                async with asyncio.timeout(grace):
                    await self._idle.wait()
            except TimeoutError:
                log.warning("drain timed out", extra={"provider": self.name,
                                                      "in_flight": self.in_flight})
        await self._cancel_workers()
        self._fail_queued("provider stopped")
        if self.state != "failed":
            self.state = "stopped"

    def _fail_queued(self, reason: str) -> None:
        """Answer every call still waiting in the inbox; nobody will run them."""
        while not self.inbox.empty():
            call = self.inbox.get_nowait()
            call.reply.force(Unavailable(reason, provider=self.name))

    async def _cancel_workers(self) -> None:
        workers, self._workers = self._workers, set()
        for task in workers:
            task.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)

    def health(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "provider_type": self.spec.type,
            "state": self.state,
            "restarts": self.restarts,
            "crashes": self.crashes,
            "upstream_faults": self.upstream_faults,
            "inbox_depth": self.inbox.qsize(),
            "inbox_size": self.inbox.maxsize,
            "in_flight": self.in_flight,
            "workers": len(self._workers),
            "circuit": self.breaker.snapshot(),
            "healthy_keys": self.pool.healthy_count,
            "total_keys": self.pool.total,
            "keys": self.pool.snapshot(),
            "last_error": self.last_error,
        }

    @property
    def circuit_state(self) -> CircuitState:
        return self.breaker.state
