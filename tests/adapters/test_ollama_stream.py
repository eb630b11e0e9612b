from __future__ import annotations

import json
from typing import Any

import httpx
import ollama
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from supervisors.adapters.ollama import OllamaAdapter
from supervisors.errors import InvalidRequest, StreamBroken

from . import SPLITS, load, raw, run_decoder

pytestmark = pytest.mark.timeout(5)

ADAPTER = OllamaAdapter()
STREAMS = load("ollama/streams.json")
TABLE = [(case, split) for case in STREAMS for split in SPLITS]


@pytest.mark.parametrize(("case", "split"), TABLE, ids=[f"{c['name']} / {s}" for c, s in TABLE])
def test_stream_translation_table(case: dict[str, Any], split: str) -> None:
    decoder = ADAPTER.stream_decoder("chat", case["request"])
    chunks, error = run_decoder(decoder, SPLITS[split](raw("ollama/" + case["file"])))
    assert [c.obj for c in chunks] == case["chunks"]
    assert decoder.done is case["done"]
    assert decoder.usage == case["usage"]
    assert decoder.malformed == case["malformed"]
    if "error" in case:
        assert isinstance(error, StreamBroken)
        assert error.message == case["error"]["message"]
        assert error.failover
    else:
        assert error is None
    for c in chunks:
        ChatCompletionChunk.model_validate(c.obj)
    if not decoder.done:  # a cut stream is never presented as finished
        assert not any(ch["finish_reason"] for c in chunks for ch in c.obj["choices"])


def test_chunks_before_an_error_line_come_out_before_the_error() -> None:
    decoder = ADAPTER.stream_decoder("chat", {"model": "llama3.2", "messages": []})
    chunks = decoder.feed(raw("ollama/stream_error.ndjson"))
    assert [c.obj["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "Once upon"},
    ]
    with pytest.raises(StreamBroken, match="unexpected EOF"):
        decoder.feed(b"")


def test_legacy_completion_stream_drops_the_role_chunk() -> None:
    request = {"model": "llama3.2", "prompt": "Say hello", "stream": True}
    decoder = ADAPTER.stream_decoder("completions", request)
    chunks, error = run_decoder(decoder, [raw("ollama/stream_text.ndjson")])
    assert error is None and decoder.done
    assert [
        (c.obj["object"], c.obj["choices"][0]["text"], c.obj["choices"][0]["finish_reason"])
        for c in chunks
    ] == [
        ("text_completion", "Héllo", None),
        ("text_completion", " 👋 wörld", None),
        ("text_completion", " — 日本語", None),
        ("text_completion", "", "stop"),
    ]
    assert decoder.usage == {"prompt_tokens": 26, "completion_tokens": 282, "total_tokens": 308}


def test_embeddings_cannot_stream() -> None:
    with pytest.raises(InvalidRequest):
        ADAPTER.stream_decoder("embeddings", {"model": "m", "input": "x"})


# -- checked against the official SDKs -------------------------------------------------

SUCCESSFUL = [c for c in STREAMS if c["done"] and not c["malformed"]]


@pytest.mark.parametrize("case", SUCCESSFUL, ids=[c["name"] for c in SUCCESSFUL])
def test_openai_sdk_accumulates_what_the_ollama_sdk_streams(case: dict[str, Any]) -> None:
    body = raw("ollama/" + case["file"])
    client = ollama.Client(
        host="http://localhost:11434",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)),
    )
    parts = list(client.chat("m", messages=[{"role": "user", "content": "x"}], stream=True))
    text = "".join(p.message.content or "" for p in parts)
    calls = [
        (c.function.name, dict(c.function.arguments))
        for p in parts
        for c in p.message.tool_calls or ()
    ]
    state = ChatCompletionStreamState()
    decoder = ADAPTER.stream_decoder("chat", case["request"])
    for c in decoder.feed(body) + decoder.close():
        state.handle_chunk(ChatCompletionChunk.model_validate(c.obj))
    message = state.get_final_completion().choices[0].message
    assert (message.content or "") == text
    assert [
        (t.function.name, json.loads(t.function.arguments)) for t in message.tool_calls or []
    ] == calls
    assert decoder.usage is not None
    assert decoder.usage["prompt_tokens"] == parts[-1].prompt_eval_count
    assert decoder.usage["completion_tokens"] == parts[-1].eval_count
