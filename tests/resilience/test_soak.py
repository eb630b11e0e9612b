"""A bounded soak with a mix of faults: every request ends (success or a well-formed
error), none hangs, and memory and the event loop's task count return to baseline."""

from __future__ import annotations

import asyncio
import random
import re
import time

import httpx
import openai
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

from .conftest import Chain

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

SOAK_SECONDS = 20.0
CONCURRENCY = 16
FAULTS = [
    {"status": 500}, {"status": 502}, {"status": 503}, {"status": 429, "retry_after": 1},
    {"status": 429}, {"reset": True}, {"delay_ms": 300}, {"first_token_delay_ms": 1500},
    {"cut_after_chunks": 3}, {"stall_after_chunks": 2}, {"malformed_after_chunks": 1},
    {"no_done": True}, {"error_event_after_chunks": 2}, {"chunk_delay_ms": 30},
    {"status": 400, "code": "context_length_exceeded"}, {"hang": True},
]


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        match = re.search(r"VmRSS:\s+(\d+)", fh.read())
    assert match
    return int(match.group(1))


def _tasks(url: str) -> int:
    text = httpx.get(url + "/metrics").text
    match = re.search(r"^proxy_event_loop_tasks (\d+)", text, re.M)
    assert match, "proxy_event_loop_tasks missing from /metrics"
    return int(match.group(1))


async def _worker(client: openai.AsyncOpenAI, alias: str, until: float,
                  outcomes: dict[str, int], rng: random.Random) -> None:
    while time.monotonic() < until:
        stream = rng.random() < 0.5
        content = f"tokens:{rng.randint(3, 20)}"
        try:
            async with asyncio.timeout(30):
                if stream:
                    chunks = await client.chat.completions.create(
                        model=alias, stream=True, messages=[{"role": "user", "content": content}])
                    async for _ in chunks:
                        pass
                else:
                    await client.chat.completions.create(
                        model=alias, messages=[{"role": "user", "content": content}])
            outcomes["ok"] += 1
        except openai.APIStatusError as exc:
            assert exc.status_code in (429, 500, 502, 503, 504) or (
                exc.status_code == 400 and exc.code == "context_length_exceeded"), exc
            assert isinstance(exc.body, dict) and "message" in exc.body
            outcomes[f"http_{exc.status_code}"] += 1
        except openai.APIError as exc:  # in-band stream error: well-formed, raised by SDK
            assert exc.message
            outcomes["stream_error"] += 1
        except TimeoutError:
            outcomes["hung"] += 1


def test_soak_with_mixed_faults(gateway: ProxyProcess, chain: Chain, primary: FakeUpstream,
                                backup: FakeUpstream) -> None:
    alias = chain(
        (primary, {"first_token_timeout": 1, "idle_timeout": 1, "max_retries": 1,
                   "failure_threshold": 10, "recovery_timeout": 1, "worker_idle_timeout": 1}),
        (backup, {"first_token_timeout": 2, "idle_timeout": 2, "failure_threshold": 10,
                  "recovery_timeout": 1, "worker_idle_timeout": 1}),
    )
    rng = random.Random(7)

    async def run(seconds: float, faults: bool) -> dict[str, int]:
        outcomes: dict[str, int] = {k: 0 for k in ("ok", "stream_error", "hung")}
        outcomes.update({f"http_{s}": 0 for s in (400, 429, 500, 502, 503, 504)})
        if faults:
            for _ in range(600):
                spec = dict(rng.choice(FAULTS))
                (primary if rng.random() < 0.8 else backup).add_fault(**spec)
        async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", max_retries=0,
                                      api_key=gateway.client_key_value,  # type: ignore[attr-defined]
                                      timeout=30) as client:
            until = time.monotonic() + seconds
            await asyncio.gather(*(
                _worker(client, alias, until, outcomes, random.Random(i))
                for i in range(CONCURRENCY)))
        return outcomes

    assert gateway.proc is not None
    pid = gateway.proc.pid
    asyncio.run(run(3.0, faults=False))  # warm up: caches, pools, first-use allocations
    time.sleep(1.0)
    rss_before, tasks_before = _rss_kb(pid), _tasks(gateway.url)

    outcomes = asyncio.run(run(SOAK_SECONDS, faults=True))
    primary.clear_faults()
    backup.clear_faults()

    assert outcomes["hung"] == 0, outcomes
    # most answers are well-formed errors while circuits are open; some still succeed
    # (the count of answers is only a floor that proves traffic flowed, even on a busy CI)
    assert outcomes["ok"] >= 10 and sum(outcomes.values()) >= 150, outcomes
    # everything settles: no tasks left behind, memory back near its baseline
    deadline = time.monotonic() + 10
    tasks_after = _tasks(gateway.url)
    while tasks_after > tasks_before and time.monotonic() < deadline:
        time.sleep(0.25)
        tasks_after = _tasks(gateway.url)
    assert tasks_after <= tasks_before, (tasks_before, tasks_after, outcomes)
    rss_after = _rss_kb(pid)
    assert rss_after - rss_before < 40_000, (rss_before, rss_after)
    # and once the faults stop, circuits close and it serves again (within max recovery)
    with openai.OpenAI(base_url=gateway.url + "/v1", max_retries=0,
                       api_key=gateway.client_key_value) as client:  # type: ignore[attr-defined]
        deadline = time.monotonic() + 15
        while True:
            try:
                assert client.chat.completions.create(
                    model=alias, messages=[{"role": "user", "content": "tokens:2"}]).choices
                break
            except openai.APIStatusError:
                assert time.monotonic() < deadline, "did not recover after the faults stopped"
                time.sleep(0.5)
