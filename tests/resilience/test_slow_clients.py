"""Clients that stop reading: disconnected after SLOW_CLIENT_TIMEOUT, their upstream calls
closed, and never charged to the provider (its circuit stays as it was)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ProxyProcess

from .conftest import KEY_A

pytestmark = pytest.mark.timeout(90)

SLOW_CLIENT_TIMEOUT = 2.0
#: 800 chunks of 8 KB, 3 ms apart (one or two per upstream read): more than the socket
#: buffers, the gateway's transport buffer and a full reply channel hold, so the worker
#: itself ends up waiting for the client
BIG = [{"role": "user", "content": "tokens:800"}]
BIG_FAULT = {"token_bytes": 8000, "chunk_delay_ms": 3}


@pytest.fixture(scope="module")
def slow_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    tmp: Path = tmp_path_factory.mktemp("slow-clients")
    with ProxyProcess(tmp, env={"SLOW_CLIENT_TIMEOUT": str(SLOW_CLIENT_TIMEOUT)}) as proc:
        proc.client_key_value = proc.admin.client_key("slow")  # type: ignore[attr-defined]
        yield proc


def _open_slow_reader(gateway: ProxyProcess, model: str, stream: bool = True) -> socket.socket:
    """A client that sends a streaming request and then reads nothing (tiny receive
    buffer, so the gateway's writes back up quickly)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gateway.port))
    body = json.dumps({"model": model, "messages": BIG, "stream": stream}).encode()
    key = gateway.client_key_value  # type: ignore[attr-defined]
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + key.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
        + b"\r\n\r\n" + body)
    return sock


def _drain(sock: socket.socket, within: float) -> tuple[bytes, bool]:
    """Read what the gateway sent until it closes the connection (True) or ``within``
    seconds pass (False)."""
    sock.settimeout(0.5)
    data = bytearray()
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            part = sock.recv(1 << 16)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return bytes(data), True
        if not part:
            return bytes(data), True
        data += part
    return bytes(data), False


def test_three_slow_readers_are_cut_off_without_touching_the_circuit(
    slow_gateway: ProxyProcess, primary: FakeUpstream
) -> None:
    admin = slow_gateway.admin
    # before, the time a worker spent blocked on a slow client ran down the call's total
    # budget, expired as an upstream timeout (opening this circuit at the first one), and
    # the worker then waited without end to hand the error back
    created = admin.provider("slowp", "openai", primary.base_url, keys=[KEY_A], timeout=8,
                             failure_threshold=1, max_retries=0)
    admin.mapping("slow-alias", created["id"], "model-0")
    primary.add_fault(times=3, **BIG_FAULT)
    readers = [_open_slow_reader(slow_gateway, "slow-alias") for _ in range(3)]
    try:
        deadline = time.monotonic() + 20
        while primary.stats()["hits"] < 3:
            assert time.monotonic() < deadline, "the streams did not start"
            time.sleep(0.05)
        # nobody reads: the calls end (their upstream requests closed) soon after
        # SLOW_CLIENT_TIMEOUT, and no worker stays busy with them
        deadline = time.monotonic() + SLOW_CLIENT_TIMEOUT + 8
        while admin.provider_health("slowp")["in_flight"] > 0:
            assert time.monotonic() < deadline, "workers stay busy with slow clients"
            time.sleep(0.1)
        health = admin.provider_health("slowp")
        assert health["circuit"]["state"] == "closed"
        assert health["circuit"]["consecutive_failures"] == 0
        # and the clients were disconnected: a truncated stream, then the connection ends
        for sock in readers:
            data, closed = _drain(sock, 10)
            assert closed, f"the gateway kept the slow client's connection open: {len(data)} bytes, ends {data[-120:]!r}"
            assert b"data: [DONE]" not in data
    finally:
        for sock in readers:
            sock.close()
    # the provider serves everyone else as before
    resp = httpx.post(slow_gateway.url + "/v1/chat/completions", timeout=10, json={
        "model": "slow-alias", "messages": [{"role": "user", "content": "tokens:3"}]},
        headers={"Authorization": f"Bearer {slow_gateway.client_key_value}"})  # type: ignore[attr-defined]
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"] == "word0 word1 word2"


def test_a_client_that_does_not_read_a_large_whole_answer_is_disconnected(
    slow_gateway: ProxyProcess, primary: FakeUpstream
) -> None:
    admin = slow_gateway.admin
    created = admin.provider("wholep", "openai", primary.base_url, keys=[KEY_A],
                             failure_threshold=1, max_retries=0)
    admin.mapping("whole-alias", created["id"], "model-0")
    primary.add_fault(token_bytes=8000)  # a 6 MB JSON answer
    sock = _open_slow_reader(slow_gateway, "whole-alias", stream=False)
    try:
        time.sleep(SLOW_CLIENT_TIMEOUT + 2)
        data, closed = _drain(sock, 10)
        assert closed, "the gateway kept the slow client's connection open"
        assert data.startswith(b"HTTP/1.1 200") and len(data) < 6_000_000
    finally:
        sock.close()
    assert admin.provider_health("wholep")["circuit"]["consecutive_failures"] == 0
