"""Through the running server: providers hold no idle workers from the start (five
providers at the default ``max_concurrency`` of 1024 cost a handful of tasks, not 5,120),
a burst grows a provider's workers up to its limit, and they are retired once idle, so
``proxy_event_loop_tasks`` follows the load."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.harness import ProxyProcess

pytestmark = pytest.mark.timeout(60)


def _tasks(url: str) -> int:
    match = re.search(r"^proxy_event_loop_tasks (\d+)", httpx.get(url + "/metrics").text, re.M)
    assert match
    return int(match.group(1))


def test_workers_follow_the_load(tmp_path: Path) -> None:
    with ProxyProcess(tmp_path) as proc:
        admin = proc.admin
        for i in range(4):
            admin.provider(f"idle-{i}", "mock")
        busy = admin.provider("busy", "mock", latency_ms=200, max_concurrency=16,
                              worker_idle_timeout=0.5)
        admin.mapping("busy", busy["id"], "m")
        key = admin.client_key("load")
        idle_tasks = _tasks(proc.url)
        assert idle_tasks < 100, idle_tasks  # not 5 x 1024 idle workers
        assert all(p["workers"] == 0 for p in admin.health()["providers"])

        async def burst() -> list[int]:
            async with httpx.AsyncClient(timeout=20) as client:
                replies = await asyncio.gather(*(client.post(
                    proc.url + "/v1/chat/completions",
                    headers={"Authorization": f"Bearer {key}"},
                    json={"model": "busy", "messages": [{"role": "user", "content": "hi"}]})
                    for _ in range(40)))
            return [r.status_code for r in replies]

        assert asyncio.run(burst()) == [200] * 40
        grown = admin.provider_health("busy")["workers"]
        assert 2 <= grown <= 16, grown
        deadline = time.monotonic() + 10
        while admin.provider_health("busy")["workers"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert admin.provider_health("busy")["workers"] == 0
        assert _tasks(proc.url) <= idle_tasks + 2
