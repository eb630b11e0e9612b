"""JSON log lines and secret masking (``proxy/logs.py``), in-process."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from proxy.logs import configure_logging, log_request, register_secrets, request_id_var

pytestmark = pytest.mark.timeout(10)

PROVIDER_KEY = "custom-provider-secret-QQQQ9999"  # not key-shaped: masked only if registered
CLIENT_KEY = "sk-proxy-Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OTA"
ANTHROPIC_KEY = "sk-ant-api03-abcdefghijklmnop-WXYZ"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    out = io.StringIO()
    try:
        configure_logging("DEBUG", out)
        yield out
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [orjson.loads(line) for line in text.splitlines()]  # one JSON object per line


def test_every_line_is_one_json_object_with_request_id_and_extras(stream: io.StringIO) -> None:
    log = logging.getLogger("proxy.test")
    token = request_id_var.set("req-abc")
    try:
        log.info("served", extra={"client_key_id": 7, "tenant": "acme", "alias": "gpt-4o",
                                  "provider": "openai", "status": 200, "latency_ms": 12.5,
                                  "attempts": 2})
    finally:
        request_id_var.reset(token)
    log.warning("multi\nline message")
    first, second = lines(stream)
    assert set(first) >= {"time", "level", "logger", "message", "request_id"}
    assert first["request_id"] == "req-abc" and first["level"] == "INFO"
    assert first["logger"] == "proxy.test" and first["message"] == "served"
    assert {k: first[k] for k in ("client_key_id", "tenant", "alias", "provider", "status",
                                  "latency_ms", "attempts")} == {
        "client_key_id": 7, "tenant": "acme", "alias": "gpt-4o", "provider": "openai",
        "status": 200, "latency_ms": 12.5, "attempts": 2}
    assert str(first["time"]).endswith("Z")
    assert "request_id" not in second and second["message"] == "multi\nline message"


def test_secrets_masked_to_last_four_everywhere(stream: io.StringIO) -> None:
    register_secrets(PROVIDER_KEY)
    log = logging.getLogger("proxy.test")
    log.info("upstream said %s for key %s", "401", PROVIDER_KEY)
    log.info("nested", extra={"headers": {"Authorization": f"Bearer {CLIENT_KEY}",
                                          "x-api-key": ANTHROPIC_KEY},
                              "keys": [PROVIDER_KEY, ("t", CLIENT_KEY)],
                              "url": "postgresql://user:hunter2pass@db:5432/x"})
    try:
        raise RuntimeError(f"upstream rejected {PROVIDER_KEY} and {CLIENT_KEY}")
    except RuntimeError:
        log.exception("failed")
    token = request_id_var.set(CLIENT_KEY)  # even a client that sends a key as request id
    try:
        log.info("with id")
    finally:
        request_id_var.reset(token)
    text = stream.getvalue()
    for secret in (PROVIDER_KEY, CLIENT_KEY, ANTHROPIC_KEY, "hunter2pass"):
        assert secret not in text
    records = lines(stream)
    assert records[0]["message"] == "upstream said 401 for key ****9999"
    assert records[1]["headers"] == {"Authorization": "Bearer ****" + CLIENT_KEY[-4:],
                                     "x-api-key": "****WXYZ"}
    assert "****9999" in str(records[1]["keys"]) and "****@db" in str(records[1]["url"])
    assert "RuntimeError" in str(records[2]["exception"]) and "****9999" in str(records[2]["exception"])
    assert records[3]["request_id"] == "****" + CLIENT_KEY[-4:]


def test_log_request_writes_one_access_line(stream: io.StringIO) -> None:
    log_request("POST", "/v1/chat/completions", 200, 0.0123, request_id="r-1", client_key_id=3,
                tenant="acme", alias="gpt-4o", provider="openai", attempts=1, upstream_model=None,
                name="shadows a LogRecord attribute")
    (line,) = lines(stream)
    assert line["logger"] == "proxy.access" and line["message"] == "request"
    assert line["request_id"] == "r-1" and line["latency_ms"] == 12.3
    assert line["method"] == "POST" and line["endpoint"] == "/v1/chat/completions"
    assert line["status"] == 200 and line["client_key_id"] == 3 and line["attempts"] == 1
    assert "upstream_model" not in line and line["name_"] == "shadows a LogRecord attribute"


def test_log_request_costs_nothing_when_info_is_off(stream: io.StringIO) -> None:
    logging.getLogger("proxy.access").setLevel(logging.WARNING)
    try:
        class Explodes:
            def __str__(self) -> str:
                raise AssertionError("formatted although INFO is off")

            __repr__ = __str__

        log_request("GET", "/v1/models", 200, 0.001, tenant=Explodes())
    finally:
        logging.getLogger("proxy.access").setLevel(logging.NOTSET)
    assert stream.getvalue() == ""
