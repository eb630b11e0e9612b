"""Provider type → adapter. Adding a provider type is one module plus one line here."""

from __future__ import annotations

from .base import Adapter
from .openai import OpenAIAdapter

__all__ = ["adapter_for"]


def _build() -> dict[str, Adapter]:
    adapters: dict[str, Adapter] = {"openai": OpenAIAdapter(), "custom": OpenAIAdapter()}
    # the mock provider speaks the OpenAI wire format through an in-process transport
    adapters["mock"] = adapters["openai"]
    try:  # landed in their own modules; absent until then
        from .anthropic import AnthropicAdapter

        adapters["anthropic"] = AnthropicAdapter()
    except ImportError:
        pass
    try:
        from .ollama import OllamaAdapter

        adapters["ollama"] = OllamaAdapter()
    except ImportError:
        pass
    return adapters


_ADAPTERS = _build()


def adapter_for(provider_type: str) -> Adapter:
    try:
        return _ADAPTERS[provider_type]
    except KeyError:
        raise ValueError(f"unknown provider_type {provider_type!r}") from None
