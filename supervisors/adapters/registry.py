"""Provider type → adapter. Adding a provider type is one module plus one line here."""

from __future__ import annotations

from types import MappingProxyType

from .anthropic import AnthropicAdapter
from .base import Adapter
from .ollama import OllamaAdapter
from .openai import OpenAIAdapter

__all__ = ["adapter_for"]

_OPENAI = OpenAIAdapter()

_ADAPTERS: MappingProxyType[str, Adapter] = MappingProxyType(
    {
        "openai": _OPENAI,
        "custom": _OPENAI,
        # the mock provider speaks the OpenAI wire format through an in-process transport
        "mock": _OPENAI,
        "anthropic": AnthropicAdapter(),
        "ollama": OllamaAdapter(),
    }
)


def adapter_for(provider_type: str) -> Adapter:
    try:
        return _ADAPTERS[provider_type]
    except KeyError:
        raise ValueError(f"unknown provider_type {provider_type!r}") from None
