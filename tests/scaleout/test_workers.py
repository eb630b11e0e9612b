"""``serve --workers 2``: two processes share one port (SO_REUSEPORT), both answer, and
SIGTERM to the parent stops both cleanly."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.harness import ProxyProcess

from .cluster import ScaleAdmin, shared_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CHAT = re.compile(
    r'^proxy_request_duration_seconds_(count|sum)\{endpoint="/v1/chat/completions",'
    r'method="POST"\} (\S+)$', re.M)


@pytest.fixture
def workers(tmp_path: Path, database_url: str) -> Iterator[ProxyProcess]:
    proc = ProxyProcess(tmp_path, env=shared_env(database_url, None), args=("--workers", "2"))
    try:
        yield proc.start(30.0)
    finally:
        proc.stop()


def _chat(url: str, key: str) -> int:
    """One request on a fresh connection, so the kernel picks a listener anew."""
    r = httpx.post(url + "/v1/chat/completions", timeout=10,
                   headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                   json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    return r.status_code


def _fingerprint(url: str) -> tuple[int, str]:
    """(chat requests served, their summed duration) of whichever worker answers: the
    float sum tells two processes apart even when their counts are equal."""
    text = httpx.get(url + "/metrics", timeout=5, headers={"Connection": "close"}).text
    found = dict((kind, value) for kind, value in CHAT.findall(text))
    return int(float(found.get("count", "0"))), found.get("sum", "0")


def _listening_pids(log: str) -> set[int]:
    pids = set()
    for line in log.splitlines():
        if '"listening"' in line:
            pids.add(int(orjson.loads(line)["pid"]))
    return pids


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_two_workers_share_the_port_and_stop_together(workers: ProxyProcess) -> None:
    url = workers.url
    with ScaleAdmin(url) as admin:
        mock = admin.provider("mock", "mock")
        admin.mapping("m", mock["id"], "mock-model")
        key = admin.client_key("workers")
    # the worker that did not take the admin calls follows within the sync interval
    sent, streak, until = 0, 0, time.monotonic() + 5.0
    while streak < 10:
        assert time.monotonic() < until, "a worker never loaded the configuration"
        status = _chat(url, key)
        sent += 1
        streak = streak + 1 if status == 200 else 0
    for _ in range(40):
        assert _chat(url, key) == 200
        sent += 1
    served: dict[str, int] = {}
    for _ in range(40):
        count, duration_sum = _fingerprint(url)
        served[duration_sum] = count
        if len(served) == 2:
            break
    assert len(served) == 2, f"one process answered every scrape: {served}"
    assert sum(served.values()) == sent and all(served.values()), (served, sent)

    assert workers.proc is not None
    parent = workers.proc.pid
    pids = _listening_pids(workers.logs())
    assert len(pids) == 2 and parent not in pids, pids
    assert {_parent_of(pid) for pid in pids} == {parent}

    workers.signal(signal.SIGTERM)
    assert workers.wait(20) == 0, workers.logs()[-2000:]
    assert all(_parent_of(pid) is None for pid in pids), "a worker outlived the parent"
    assert workers.logs().count('"stopped"') == 2
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health", timeout=2)
