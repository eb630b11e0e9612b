"""A call that makes an adapter raise fails alone: the worker lives on, the provider's
restart intensity and circuit are untouched (unless the upstream's answer is at fault).

The calls go straight into the supervisors, past the edge validation of ``proxy.api``,
so these bodies reach the adapters as they would if the edge missed a shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from supervisors.errors import (
    InternalError,
    ProxyError,
    UntranslatableAnswer,
    UntranslatableRequest,
)
from supervisors.messages import Call, Chunk, Result, StreamEnd
from supervisors.mock import MockTransport
from supervisors.provider import ProviderSupervisor
from supervisors.root import RootSupervisor
from supervisors.spec import ProviderConfig, ProviderSpec
from supervisors.transport import HttpTransport, Transport
from tests.fakes import FakeUpstream
from tests.supervisors.observer import CountingObserver

pytestmark = pytest.mark.timeout(60)

KEY = "sk-isolation-key-0001"
USER = [{"role": "user", "content": "hello"}]


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"a": [value]}
    return value


def _poison() -> dict[str, list[dict[str, Any]]]:
    """Bodies that passed the old edge checks and made an adapter raise."""
    deep_tools = [{"type": "function",
                   "function": {"name": "f", "parameters": {"type": "object", "x": _deep(300)}}}]
    return {
        "anthropic": [
            {"messages": USER, "response_format": {"type": "json_schema", "json_schema": "x"}},
            {"messages": USER, "tools": deep_tools},
        ],
        "ollama": [
            {"messages": USER, "response_format": {"type": "json_schema", "json_schema": "x"}},
            {"messages": [*USER, {"role": "assistant", "content": "", "tool_calls": 5}]},
            {"messages": USER, "tools": deep_tools},
        ],
        "mock": [{"messages": USER, "metadata": _deep(300)}],
    }


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    with FakeUpstream("anthropic", keys={KEY}) as claude, FakeUpstream("ollama") as ollama:
        yield {"anthropic": claude, "ollama": ollama}


@pytest.fixture
async def root(fakes: dict[str, FakeUpstream]) -> AsyncIterator[RootSupervisor]:
    for fake in fakes.values():
        fake.clear_faults()
    async with aiohttp.ClientSession() as session:
        http = HttpTransport(session)

        def transport_for(spec: ProviderSpec) -> Transport:
            return MockTransport(spec) if spec.type == "mock" else http

        root = RootSupervisor(transport_for, CountingObserver())
        config = ProviderConfig(max_concurrency=2, failure_threshold=3)
        root.apply([
            ProviderSpec(1, "anthropic", "anthropic", fakes["anthropic"].base_url, config,
                         keys=((1, "k", KEY),)),
            ProviderSpec(2, "ollama", "ollama", fakes["ollama"].base_url, config),
            ProviderSpec(3, "mock", "mock", "mock://", config),
        ])
        await asyncio.sleep(0)
        yield root
        await root.stop(1.0)


async def _call(sup: ProviderSupervisor, body: dict[str, Any], stream: bool) -> Any:
    loop = asyncio.get_running_loop()
    call = Call("chat", {"model": "m", "stream": stream, **body}, stream=stream, request_id="r",
                deadline=loop.time() + 10)
    sup.submit(call)
    replies: list[Any] = []
    while True:
        reply = await call.get(10)
        replies.append(reply)
        if isinstance(reply, ProxyError | Result | StreamEnd):
            return reply if not stream or isinstance(reply, ProxyError) else replies


def _healthy(sup: ProviderSupervisor) -> None:
    health = sup.health()
    assert health["state"] == "running"
    assert (health["restarts"], health["crashes"]) == (0, 0)
    assert 1 <= health["workers"] <= 2  # started on demand, none lost
    assert health["circuit"]["state"] == "closed"
    assert sup.intensity.recent == 0


@pytest.mark.parametrize("provider", ["anthropic", "ollama", "mock"])
async def test_untranslatable_request_fails_that_call_alone(
    root: RootSupervisor, provider: str
) -> None:
    sup = root.get(provider)
    assert sup is not None
    for _ in range(4):  # well past the restart intensity if each one killed a worker
        for body in _poison()[provider]:
            for stream in (False, True):
                reply = await _call(sup, body, stream)
                assert isinstance(reply, UntranslatableRequest), reply
                assert reply.status == 400 and not reply.provider_fault
    _healthy(sup)
    assert sup.health()["upstream_faults"] == 0
    answer = await _call(sup, {"messages": USER}, False)
    assert isinstance(answer, Result)


async def test_untranslatable_answer_is_a_502_charged_to_the_upstream(
    root: RootSupervisor, fakes: dict[str, FakeUpstream]
) -> None:
    sup = root.get("anthropic")
    assert sup is not None
    # a message whose content is a number, not a list of blocks
    fakes["anthropic"].add_fault(times=2, status=200, body={
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": 5, "stop_reason": "end_turn", "usage": {"input_tokens": 1}})
    for _ in range(2):
        reply = await _call(sup, {"messages": USER}, False)
        assert isinstance(reply, UntranslatableAnswer), reply
        assert reply.status == 502 and reply.provider_fault
    _healthy(sup)
    assert sup.health()["upstream_faults"] == 2
    assert isinstance(await _call(sup, {"messages": USER}, False), Result)
    assert isinstance(await _call(sup, {"messages": USER}, True), list)


async def test_a_bug_of_ours_is_a_500_that_restarts_nothing(root: RootSupervisor) -> None:
    sup = root.get("mock")
    assert sup is not None
    crashing = ProviderSpec(3, "mock", "mock", "mock://", ProviderConfig(
        max_concurrency=2, failure_threshold=3, extra={"crash_marker": "BOOM"}))
    sup.transport = MockTransport(crashing)
    for _ in range(8):
        reply = await _call(sup, {"messages": [{"role": "user", "content": "BOOM"}]}, False)
        assert isinstance(reply, InternalError) and reply.status == 500
    health = sup.health()
    assert (health["restarts"], health["crashes"], health["upstream_faults"]) == (0, 8, 0)
    assert 1 <= health["workers"] <= 2 and health["circuit"]["state"] == "closed"
    chunks = await _call(sup, {"messages": USER}, True)
    assert any(isinstance(c, list) and c and isinstance(c[0], Chunk) for c in chunks)
