"""The root supervisor: starts, reconfigures, replaces and stops provider supervisors.

Each provider supervisor runs in a task the root owns. A provider that escalates (its
workers keep crashing) is marked failed and restarted with a fresh supervisor after a
backoff that grows with each failure and starts over once the provider has run for
``backoff_reset`` seconds without escalating; it never takes the server down.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Iterable

from .provider import Escalation, Observer, ProviderSupervisor
from .spec import ProviderSpec
from .transport import Transport

__all__ = ["RootSupervisor"]

log = logging.getLogger("supervisors.root")

TransportFactory = Callable[[ProviderSpec], Transport]


class RootSupervisor:
    def __init__(
        self,
        transport_for: TransportFactory,
        observer: Observer,
        *,
        escalation_backoff: float = 5.0,
        max_escalation_backoff: float = 60.0,
        backoff_reset: float = 60.0,
    ) -> None:
        self._transport_for = transport_for
        self._observer = observer
        self._backoff = escalation_backoff
        self._max_backoff = max_escalation_backoff
        self._backoff_reset = backoff_reset
        self._providers: dict[str, ProviderSupervisor] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    # -- queries ------------------------------------------------------------------------

    def get(self, name: str) -> ProviderSupervisor | None:
        return self._providers.get(name)

    def providers(self) -> list[ProviderSupervisor]:
        return list(self._providers.values())

    def running(self) -> bool:
        return not self._closing and all(
            p.state in ("running", "failed", "starting") for p in self._providers.values()
        )

    # -- configuration ------------------------------------------------------------------

    def apply(self, specs: Iterable[ProviderSpec], *, drain_grace: float = 30.0) -> None:
        """Reconcile the running supervisors with ``specs`` (enabled providers only)."""
        if self._closing:
            return
        wanted = {s.name: s for s in specs if s.enabled}
        for name in list(self._providers):
            if name not in wanted:
                self._retire(self._providers.pop(name), drain_grace)
        for name, spec in wanted.items():
            current = self._providers.get(name)
            if current is None:
                self._start(spec)
            elif current.needs_replacement(spec):
                self._retire(self._providers.pop(name), drain_grace)
                self._start(spec)
            elif current.spec != spec:
                current.reconfigure(spec)

    def _start(self, spec: ProviderSpec) -> None:
        sup = ProviderSupervisor(spec, self._transport_for(spec), self._observer)
        self._providers[spec.name] = sup
        sup.state = "running"  # accepts calls at once; workers start on the next tick
        self._own(self._supervise(sup), f"provider:{spec.name}")

    def _retire(self, sup: ProviderSupervisor, grace: float) -> None:
        self._own(sup.drain(grace), f"retire:{sup.name}")

    def _own(self, coro: object, name: str) -> None:
        # a fresh context: not the one of the (admin) request whose change started it
        task: asyncio.Task[None] = asyncio.create_task(
            coro, name=name, context=contextvars.Context())  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _supervise(self, sup: ProviderSupervisor) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while not self._closing and self._providers.get(sup.name) is sup:
            began = loop.time()
            try:
                await sup.run()
                return
            except Escalation as exc:
                if loop.time() - began >= self._backoff_reset:
                    failures = 0  # it was healthy for a while: a new crash loop starts small
                failures += 1
                delay = min(self._max_backoff, self._backoff * 2 ** (failures - 1))
                log.error(
                    "provider failed; restarting later",
                    extra={"provider": sup.name, "error": str(exc), "retry_in": delay},
                )
                await asyncio.sleep(delay)
                if self._closing or self._providers.get(sup.name) is not sup:
                    return
                fresh = ProviderSupervisor(sup.spec, sup.transport, self._observer)
                fresh.restarts = sup.restarts
                fresh.crashes = sup.crashes
                fresh.upstream_faults = sup.upstream_faults
                fresh.last_error = sup.last_error
                fresh.last_error_at, fresh.recovered_at = sup.last_error_at, sup.recovered_at
                self._providers[sup.name] = sup = fresh
                sup.state = "running"

    # -- shutdown -----------------------------------------------------------------------

    async def stop(self, grace: float) -> None:
        """Drain every provider for up to ``grace`` seconds, then cancel what is left."""
        self._closing = True
        providers, self._providers = list(self._providers.values()), {}
        await asyncio.gather(*(p.drain(grace) for p in providers), return_exceptions=True)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
