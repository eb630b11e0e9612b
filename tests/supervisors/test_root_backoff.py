"""The root supervisor's restart backoff grows while a provider keeps escalating and
starts over once the provider has run healthy for ``backoff_reset`` seconds."""

from __future__ import annotations

import asyncio

import pytest

from supervisors.mock import MockTransport
from supervisors.provider import Escalation, ProviderSupervisor
from supervisors.root import RootSupervisor
from supervisors.spec import ProviderSpec
from supervisors.transport import Transport
from tests.supervisors.observer import CountingObserver

pytestmark = pytest.mark.timeout(30)


async def test_backoff_starts_over_after_a_healthy_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    # how long each successive run of the provider stays up before escalating
    lifetimes = [0.0, 0.0, 0.0, 0.0, 0.6, 0.0]
    starts: list[float] = []
    ends: list[float] = []
    done = asyncio.Event()

    async def run(self: ProviderSupervisor) -> None:
        starts.append(loop.time())
        if len(starts) > len(lifetimes):
            done.set()
            await asyncio.Event().wait()
        await asyncio.sleep(lifetimes[len(starts) - 1])
        ends.append(loop.time())
        raise Escalation("workers keep crashing")

    monkeypatch.setattr(ProviderSupervisor, "run", run)

    def transport_for(spec: ProviderSpec) -> Transport:
        return MockTransport(spec)

    root = RootSupervisor(transport_for, CountingObserver(), escalation_backoff=0.1, max_escalation_backoff=3.0,
                          backoff_reset=0.5)
    root.apply([ProviderSpec(1, "p", "mock", "mock://")])
    try:
        await asyncio.wait_for(done.wait(), 15)
    finally:
        await root.stop(0.1)
    waits = [start - end for end, start in zip(ends, starts[1:], strict=False)]
    # a crash loop: 0.1, 0.2, 0.4, 0.8 ...
    assert waits[0] == pytest.approx(0.1, abs=0.08)
    assert waits[3] == pytest.approx(0.8, abs=0.15)
    # ... then 0.6 s of health: the next escalation waits the base delay again, not 1.6 s
    assert waits[4] == pytest.approx(0.1, abs=0.08)
    # and a crash loop right after grows from there
    assert waits[5] == pytest.approx(0.2, abs=0.1)
