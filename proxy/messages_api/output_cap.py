"""How many output tokens a translated hop may be asked for.

Claude Code asks for up to 32,000 (``max_tokens``) whatever model serves it, and models
such as ``gpt-4o`` refuse a limit above their own (OpenAI: 400 ``max_tokens is too
large``). So a Messages request translated for a non-``anthropic`` hop asks for at most
the hop's cap: its mapping's ``config.max_tokens`` (or ``max_completion_tokens``) when
the operator set one, else the model's published output limit when the table below knows
the model, else the client's value unchanged. An answer cut there ends with
``stop_reason: "max_tokens"``, as it would on a model with that limit. The price table
(genai-prices) has context windows but no output limits, hence this short table of
OpenAI models whose output limit is below what clients commonly ask for.
"""

from __future__ import annotations

from typing import Any

from ..routing import Hop

__all__ = ["OUTPUT_LIMITS", "output_cap"]

#: model name prefix → completion tokens it writes at most (OpenAI's model pages); the
#: longest matching prefix wins
OUTPUT_LIMITS: dict[str, int] = {
    "gpt-3.5-turbo": 4_096,
    "gpt-4": 8_192,
    "gpt-4-turbo": 4_096,
    "gpt-4-0125": 4_096,
    "gpt-4-1106": 4_096,
    "gpt-4o": 16_384,
    "gpt-4o-2024-05-13": 4_096,
    "chatgpt-4o": 16_384,
    "gpt-4.1": 32_768,
    "gpt-4.5": 16_384,
    "o1-mini": 65_536,
    "o1": 100_000,
    "o3": 100_000,
    "o4-mini": 100_000,
    "gpt-5": 128_000,
}
_BY_LENGTH = sorted(OUTPUT_LIMITS, key=len, reverse=True)
_CONFIG_KEYS = ("max_tokens", "max_completion_tokens")


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _known(model: str) -> int | None:
    name = model.rsplit("/", 1)[-1]  # "openai/gpt-4o" behind a router
    for prefix in _BY_LENGTH:
        if name.startswith(prefix):
            return OUTPUT_LIMITS[prefix]
    return None


def output_cap(hop: Hop) -> int | None:
    """The most output tokens ``hop`` may be asked for, or None when unknown."""
    configured = [v for k in _CONFIG_KEYS if (v := _positive(hop.defaults.get(k))) is not None]
    if configured:
        return min(configured)
    return _known(hop.model)
