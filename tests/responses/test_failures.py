"""Responses through the failure policy: fallback before the first byte, stream resume
after it (text), and ``response.failed`` when a started stream cannot be saved."""

from __future__ import annotations

import openai
import pytest

from .conftest import Gateway

TEXT_60 = " ".join(f"word{i}" for i in range(60))


@pytest.fixture
def faults(gateway: Gateway) -> object:
    for fake in gateway.fakes.values():
        fake.clear_faults()
    yield
    for fake in gateway.fakes.values():
        fake.clear_faults()


def test_a_failing_first_provider_falls_back_for_whole_and_streamed(
        gateway: Gateway, client: openai.OpenAI, faults: object) -> None:
    gateway.fakes["r-openai"].add_fault(status=503, times=2)
    whole = client.responses.create(model="r-chain", input="tokens:5")
    assert whole.output_text == "word0 word1 word2 word3 word4"
    with client.responses.stream(model="r-chain", input="tokens:5") as stream:
        for _ in stream:
            pass
        streamed = stream.get_final_response()
    assert streamed.output_text == whole.output_text
    assert streamed.status == "completed"


def test_a_stream_cut_midway_resumes_on_the_next_provider(
        gateway: Gateway, client: openai.OpenAI, faults: object) -> None:
    gateway.fakes["r-openai"].add_fault(cut_after_chunks=20)
    with client.responses.stream(model="r-chain", input="tokens:60") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == TEXT_60
    assert final.output_text == TEXT_60 and final.status == "completed"
    prefill = gateway.fakes["r-anthropic"].requests[-1].json["messages"][-1]
    assert prefill["role"] == "assistant"
    assert prefill["content"] == " ".join(f"word{i}" for i in range(20))


def test_a_started_stream_that_cannot_be_saved_ends_with_response_failed(
        gateway: Gateway, client: openai.OpenAI, faults: object) -> None:
    gateway.fakes["r-ollama"].add_fault(cut_after_chunks=5)
    with client.responses.stream(model="r-ollama", input="tokens:40") as stream:
        events = [e for e in stream]
    assert events[0].type == "response.created"
    assert events[-1].type == "response.failed"
    failed = events[-1].response  # type: ignore[union-attr]
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.code == "server_error"
    text = failed.output[0].content[0].text  # type: ignore[union-attr]
    assert text.startswith("word0 word1 word2")
    stored = client.responses.retrieve(failed.id)
    assert stored.status == "failed"
