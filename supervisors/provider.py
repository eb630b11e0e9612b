"""The provider actor: one supervisor per provider.

It owns a bounded inbox, its worker tasks, its circuit breaker and its key pool.

Workers run on demand, up to ``max_concurrency``: a call put in the inbox when no idle
worker is waiting for it starts one (so a warm provider spawns nothing per call), and
every ``worker_idle_timeout`` seconds the workers that stayed idle the whole time are retired.
Idle cost is thus proportional to recent load, and ``proxy_event_loop_tasks`` counts
work, not configuration. A worker that crashes (a bug of ours outside any one call) is
replaced when calls wait for it, while the restart intensity allows; past it the
supervisor gives up with :class:`Escalation`, and the root supervisor marks the provider
failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from typing import Any, Protocol
from urllib.parse import urlsplit

from .adapters.base import Adapter
from .adapters.registry import adapter_for
from .circuit import CircuitBreaker, CircuitState
from .errors import InternalError, ProxyError, Unavailable
from .inbox import Inbox
from .keypool import KeyPool, iso_time
from .masking import spec_secrets
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
        idle_timeout: float | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.adapter: Adapter = adapter_for(spec.type)
        self.transport = transport
        self.observer = observer
        config = spec.config
        self.inbox: Inbox[Call] = Inbox(config.queue_size)
        # a failed probe doubles the wait, up to twice the configured recovery (jittered)
        self.breaker = CircuitBreaker(config.failure_threshold, config.recovery_timeout)
        self.pool = KeyPool(spec.keys)
        #: what an upstream's error text must never carry back (keys, header values)
        self.secrets = spec_secrets(spec)
        self.intensity = intensity or RestartIntensity(max_restarts=5, period=10.0)
        self.state = "starting"
        self.in_flight = 0
        #: worker tasks that died and were restarted (a bug outside any one call)
        self.restarts = 0
        #: calls failed by a bug of ours (500); the worker carried on
        self.crashes = 0
        #: calls failed by the upstream (charged to the circuit breaker)
        self.upstream_faults = 0
        #: the last failure: ``<upstream host>: <what happened>``, when, and when a call
        #: succeeded again after it (wall-clock times)
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.recovered_at: float | None = None
        self.upstream_host = urlsplit(spec.base_url).netloc or None
        #: loop time after which one request may re-check a key that failed with 401/403
        self.next_recheck = 0.0
        self._workers: set[asyncio.Task[None]] = set()
        #: workers waiting for a call (or not started yet); a worker's own bookkeeping
        self.idle_workers: set[asyncio.Task[None]] = set()
        #: fewest idle workers seen since the last retirement round (none needed them)
        self.low_idle = 0
        self.idle_timeout = idle_timeout or config.worker_idle_timeout
        self._max_workers = config.max_concurrency
        self._escalation: Escalation | None = None
        #: wakes ``run``: an escalation, or the end of a drain
        self._wake = asyncio.Event()
        #: set by workers when nothing is queued or running (for drain)
        self._idle = asyncio.Event()

    # -- messages from the router -------------------------------------------------------

    def submit(self, call: Call) -> None:
        """Put ``call`` in the inbox or raise ``Unavailable`` at once (never waits)."""
        if self.state != "running":
            raise Unavailable(f"provider {self.name!r} is {self.state}", provider=self.name)
        if self.spec.refuse_calls:
            raise Unavailable(
                f"provider {self.name!r} is misconfigured: {self.spec.misconfigured}",
                provider=self.name, code="provider_misconfigured",
            )
        breaker = self.breaker
        ticket = breaker.allow()
        if ticket is not None and ticket.probe:
            self._circuit_log("circuit half-open: probe sent", call)
        if ticket is None:
            raise Unavailable(
                f"circuit open for provider {self.name!r}",
                retry_after=max(1.0, self.breaker.retry_after()),
                provider=self.name,
                code="circuit_open",
            )
        call.ticket = ticket
        inbox = self.inbox
        try:
            inbox.put_nowait(call)
        except asyncio.QueueFull:
            self.release(call)
            raise Unavailable(
                f"provider {self.name!r} is overloaded (inbox full)",
                retry_after=1.0,
                provider=self.name,
                code="overloaded",
            ) from None
        if len(self.idle_workers) < inbox.qsize() and len(self._workers) < self._max_workers:
            self._spawn()  # nobody idle to take it: one more worker, up to max_concurrency

    # -- outcomes reported by workers --------------------------------------------------

    # Each outcome consumes the call's ticket, so that a call reported twice (a failure,
    # then abandoned while handing back the error) cannot free a probe slot twice.

    def record_success(self, call: Call) -> None:
        ticket, call.ticket = call.ticket, None
        breaker = self.breaker
        if ticket is not None:
            was_closed = breaker.state is CircuitState.CLOSED
            breaker.record_success(ticket)
            if not was_closed and breaker.state is CircuitState.CLOSED:
                self._circuit_log("circuit closed: probe succeeded", call)
        if self.last_error_at is not None and (self.recovered_at or 0.0) < self.last_error_at:
            self.recovered_at = time.time()
        self.observer.provider_result(self.name, str(call.body.get("model", "")), "success")

    def note_error(self, message: str) -> None:
        """Remember the last failure, naming the upstream host, and its time."""
        host = self.upstream_host
        self.last_error = (f"{host}: {message}" if host else message)[:300]
        self.last_error_at = time.time()

    def record_failure(self, err: ProxyError, call: Call) -> None:
        if not err.provider_fault:
            self.release(call)
            if isinstance(err, InternalError):
                self.crashes += 1
                self.note_error(err.message)
        elif call.ticket is not None:
            self.upstream_faults += 1
            ticket, call.ticket = call.ticket, None
            breaker = self.breaker
            epoch = breaker.epoch
            breaker.record_failure(ticket)
            self.note_error(err.message)
            if breaker.epoch != epoch:  # this failure opened (or re-opened) the circuit
                wait = breaker.retry_after()
                self._circuit_log("circuit re-opened: probe failed" if ticket.probe
                                  else "circuit opened", call, level=logging.WARNING,
                                  error=err.message[:200], retry_in_seconds=round(wait, 3))
                self.observer.circuit_opened(self.name, wait)
        self.observer.provider_result(self.name, str(call.body.get("model", "")), err.reason)

    def release(self, call: Call) -> None:
        """The call ended saying nothing about the provider's health (abandoned, refused
        as the request's fault, queued too long): give back its admission."""
        ticket, call.ticket = call.ticket, None
        if ticket is not None:
            self.breaker.release(ticket)

    def _circuit_log(self, message: str, call: Call, level: int = logging.INFO,
                     **fields: object) -> None:
        log.log(level, message, extra={"provider": self.name, "request_id": call.request_id,
                                       **fields})

    # -- lifecycle ---------------------------------------------------------------------

    def reconfigure(self, spec: ProviderSpec) -> None:
        """Apply a change that needs no new inbox or workers (keys, timeouts, breaker)."""
        self.spec = spec
        self.pool.replace(spec.keys)
        self.secrets = spec_secrets(spec)
        self.idle_timeout = spec.config.worker_idle_timeout
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
        # a fresh context: a worker serves many requests and must not carry the context
        # (request id) of whichever one caused it to be started
        task = asyncio.create_task(worker_loop(self), name=f"worker:{self.name}",
                                   context=contextvars.Context())
        self._workers.add(task)
        self.idle_workers.add(task)  # about to wait for a call
        task.add_done_callback(self._worker_done)

    def _spawn_for_backlog(self) -> None:
        while (len(self.idle_workers) < self.inbox.qsize()
               and len(self._workers) < self._max_workers):
            self._spawn()

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        self._workers.discard(task)
        self.idle_workers.discard(task)
        if task.cancelled() or self._escalation is not None:
            return
        exc = task.exception()
        if exc is None:
            return
        self.restarts += 1
        self.note_error(f"worker crashed: {type(exc).__name__}: {exc}")
        self.observer.worker_restarted(self.name)
        log.error("worker crashed", extra={"provider": self.name, "error": type(exc).__name__},
                  exc_info=exc)
        if not self.intensity.allow():
            self.state = "failed"
            self._fail_queued("provider failed: its workers keep crashing")
            self._escalation = Escalation(f"provider {self.name!r}: {self.last_error}")
            self._wake.set()
            return
        if self.state == "running" or self.state == "stopping":
            self._spawn_for_backlog()

    def retire_idle(self) -> int:
        """Retire the workers that stayed idle since the last round (the fewest idle ones
        seen meanwhile were never needed); returns how many. Only with an empty inbox, so
        that no call is promised to a worker that goes away."""
        surplus = min(self.low_idle, len(self.idle_workers))
        retired = 0
        if self.inbox.empty():
            while retired < surplus and self.idle_workers:
                self.idle_workers.pop().cancel()
                retired += 1
        self.low_idle = len(self.idle_workers)
        return retired

    async def run(self) -> None:
        """Supervise the workers (started on demand by ``submit``), retire idle ones every
        ``idle_timeout`` seconds; returns once drained, raises ``Escalation``."""
        if self.state == "starting":
            self.state = "running"
        self._spawn_for_backlog()  # calls submitted before this task started
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.idle_timeout):
                        await self._wake.wait()
                if self._escalation is not None:
                    raise self._escalation
                if self.state in ("stopping", "stopped"):
                    return
                self.retire_idle()
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
        self._wake.set()

    def _fail_queued(self, reason: str) -> None:
        """Answer every call still waiting in the inbox; nobody will run them."""
        while not self.inbox.empty():
            call = self.inbox.get_nowait()
            call.reply.force(Unavailable(reason, provider=self.name))

    async def _cancel_workers(self) -> None:
        workers, self._workers = self._workers, set()
        self.idle_workers.clear()
        for task in workers:
            task.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)

    def health(self) -> dict[str, Any]:
        """For ``/admin/health``. ``status`` is ``ok`` only when the provider runs, its
        circuit is closed and it is not misconfigured; otherwise ``degraded``."""
        circuit = self.breaker.snapshot()
        degraded = (self.state != "running" or circuit["state"] != "closed"
                    or self.spec.misconfigured is not None)
        return {
            "name": self.name,
            "status": "degraded" if degraded else "ok",
            "provider_type": self.spec.type,
            "state": self.state,
            "restarts": self.restarts,
            "crashes": self.crashes,
            "upstream_faults": self.upstream_faults,
            "inbox_depth": self.inbox.qsize(),
            "inbox_size": self.inbox.maxsize,
            "in_flight": self.in_flight,
            "workers": len(self._workers),
            "idle_workers": len(self.idle_workers),
            "circuit": circuit,
            "healthy_keys": self.pool.healthy_count,
            "total_keys": self.pool.total,
            "keys": self.pool.snapshot(),
            "upstream_host": self.upstream_host,
            "last_error": self.last_error,
            "last_error_at": iso_time(self.last_error_at),
            "recovered_at": iso_time(self.recovered_at),
            "misconfigured": self.spec.misconfigured,
        }

    @property
    def circuit_state(self) -> CircuitState:
        return self.breaker.state
