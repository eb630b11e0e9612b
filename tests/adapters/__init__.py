"""Tests of the provider adapters: recorded fixtures in, exact OpenAI objects out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supervisors.adapters.base import UpstreamRequest
from supervisors.errors import ProxyError
from supervisors.messages import Chunk
from supervisors.spec import ProviderConfig, ProviderSpec

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sent(request: UpstreamRequest) -> Any:
    """The JSON body of a built upstream request."""
    assert request.body is not None
    return json.loads(request.body)


def make_spec(type_: str, base_url: str, **config: Any) -> ProviderSpec:
    return ProviderSpec(1, f"test-{type_}", type_, base_url, ProviderConfig.from_dict(config))


#: ways to cut an upstream body into reads: the decoder must not care
SPLITS: dict[str, Callable[[bytes], list[bytes]]] = {
    "whole": lambda data: [data],
    "byte-by-byte": lambda data: [data[i : i + 1] for i in range(len(data))],
    "7-byte reads": lambda data: [data[i : i + 7] for i in range(0, len(data), 7)],
    "split at every newline": lambda data: (
        [piece + b"\n" for piece in data.split(b"\n")[:-1]]
        + ([data.rsplit(b"\n", 1)[-1]] if not data.endswith(b"\n") else [])
    ),
}


def run_decoder(decoder: Any, pieces: list[bytes]) -> tuple[list[Chunk], ProxyError | None]:
    """Feed every piece, then close; stop at the first in-stream error like the worker."""
    chunks: list[Chunk] = []
    try:
        for piece in pieces:
            chunks += decoder.feed(piece)
        chunks += decoder.close()
    except ProxyError as exc:
        return chunks, exc
    return chunks, None
