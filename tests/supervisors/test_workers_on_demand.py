"""A provider's workers run on demand: none while idle, one more only when a call finds
no idle worker (never above ``max_concurrency``, never one per call when warm), idle ones
retired after ``idle_timeout``; crashes, drain and shutdown keep their meaning."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import supervisors.provider as provider_module
from supervisors.errors import ProxyError, Unavailable
from supervisors.messages import Call, Result
from supervisors.mock import MockTransport
from supervisors.provider import Escalation, ProviderSupervisor
from supervisors.restart import RestartIntensity
from supervisors.spec import ProviderConfig, ProviderSpec
from tests.supervisors.observer import CountingObserver

pytestmark = pytest.mark.timeout(30)

USER = [{"role": "user", "content": "hello"}]


def _spec(**config: Any) -> ProviderSpec:
    extra = {k: config.pop(k) for k in list(config) if k in ("latency_ms", "crash_marker")}
    return ProviderSpec(1, "mock", "mock", "mock://",
                        ProviderConfig(**config, extra=extra))


async def _started(spec: ProviderSpec, **kwargs: Any
                   ) -> tuple[ProviderSupervisor, asyncio.Task[None]]:
    sup = ProviderSupervisor(spec, MockTransport(spec), CountingObserver(), **kwargs)
    task = asyncio.create_task(sup.run())
    await asyncio.sleep(0)
    return sup, task


@pytest.fixture
async def stop() -> AsyncIterator[list[tuple[ProviderSupervisor, asyncio.Task[None]]]]:
    started: list[tuple[ProviderSupervisor, asyncio.Task[None]]] = []
    yield started
    for sup, task in started:
        await sup.drain(1.0)
        await asyncio.wait_for(task, 5)


def _call(stream: bool = False, content: str = "hello") -> Call:
    loop = asyncio.get_running_loop()
    return Call("chat", {"model": "m", "messages": [{"role": "user", "content": content}]},
                stream=stream, request_id="r", deadline=loop.time() + 10)


async def _whole(sup: ProviderSupervisor, content: str = "hello") -> Any:
    call = _call(content=content)
    sup.submit(call)
    return await call.get(10)


async def test_no_workers_until_needed_then_one_serves_sequential_calls(stop: Any) -> None:
    sup, task = await _started(_spec(max_concurrency=64))
    stop.append((sup, task))
    assert sup.health()["workers"] == 0
    for _ in range(20):
        assert isinstance(await _whole(sup), Result)
    health = sup.health()
    assert health["workers"] == 1 and health["idle_workers"] == 1


async def test_concurrent_calls_grow_workers_up_to_max_concurrency(stop: Any) -> None:
    sup, task = await _started(_spec(max_concurrency=8, latency_ms=100))
    stop.append((sup, task))
    replies = await asyncio.gather(*(_whole(sup) for _ in range(30)))
    assert all(isinstance(r, Result) for r in replies)
    assert sup.health()["workers"] == 8  # grew to the limit, not one per call
    assert sup.in_flight == 0


async def test_idle_workers_are_retired_and_come_back_on_demand(stop: Any) -> None:
    sup, task = await _started(_spec(max_concurrency=16, latency_ms=50), idle_timeout=0.2)
    stop.append((sup, task))
    await asyncio.gather(*(_whole(sup) for _ in range(10)))
    assert sup.health()["workers"] == 10
    await asyncio.sleep(0.7)  # idle for at least two retirement rounds
    assert sup.health()["workers"] == 0
    assert isinstance(await _whole(sup), Result)
    assert sup.health()["workers"] == 1


async def test_busy_workers_are_not_retired(stop: Any) -> None:
    sup, task = await _started(_spec(max_concurrency=4, latency_ms=20), idle_timeout=0.05)
    stop.append((sup, task))
    for _ in range(30):  # steady traffic across many retirement rounds
        assert isinstance(await _whole(sup), Result)
    assert sup.health()["workers"] >= 1 and sup.restarts == 0


async def test_drain_lets_running_calls_finish_and_fails_queued_ones() -> None:
    sup, task = await _started(_spec(max_concurrency=1, latency_ms=300, queue_size=4))
    first, second = _call(), _call()
    sup.submit(first)
    sup.submit(second)
    await asyncio.sleep(0.05)
    await sup.drain(2.0)
    assert isinstance(await first.get(1), Result)
    assert isinstance(await second.get(1), Result)  # queued before the drain: served
    with pytest.raises(Unavailable):
        sup.submit(_call())
    await asyncio.wait_for(task, 5)  # run() returns once drained
    assert sup.health()["workers"] == 0


async def test_a_crashing_worker_escalates_past_the_restart_intensity() -> None:
    sup, task = await _started(_spec(max_concurrency=2),
                               intensity=RestartIntensity(max_restarts=2, period=60.0))

    async def crash(_: ProviderSupervisor) -> None:
        raise RuntimeError("a bug in the worker loop itself")

    real = provider_module.worker_loop
    provider_module.worker_loop = crash  # type: ignore[assignment]
    try:
        for _ in range(3):
            call = _call()
            try:
                sup.submit(call)
            except ProxyError:
                break
            await asyncio.sleep(0.01)
        with pytest.raises(Escalation):
            await asyncio.wait_for(task, 5)
    finally:
        provider_module.worker_loop = real
    assert sup.state == "failed" and sup.restarts == 3
