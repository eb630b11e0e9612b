"""What a provider's and a mapping's ``config`` may hold: one table each.

A key in neither table is a 400 naming it (a typo such as ``timeuot`` would otherwise be
stored and silently ignored), in the admin API and in ``openai-proxy apply`` alike.
**To add a key, add one line to the table** (name → validator from ``admin_fields``);
the validator checks its value and gives its schema to ``/openapi.json``. A mapping key
the gateway reads is also named in ``proxy.routing.GATEWAY_MAPPING_KEYS`` (routing keeps it
out of the request defaults; the two lists are checked to agree at import).

* Provider config: the fields of ``supervisors.spec.ProviderConfig`` (typed there) plus
  ``PROVIDER_EXTRA_KEYS``, the type-specific settings adapters read from
  ``ProviderConfig.extra``.
* Mapping config: ``MAPPING_KEYS``, read by the gateway itself and never sent upstream,
  plus ``REQUEST_PARAMETERS``, default request parameters applied when the client leaves
  them out (OpenAI and Anthropic request parameter names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from supervisors.errors import InvalidRequest
from supervisors.spec import ProviderConfig

from ..routing import GATEWAY_MAPPING_KEYS
from ..spend.prices import PRICING_FIELDS, parse_pricing
from .admin_fields import (
    Validator,
    boolean,
    described,
    integer,
    json_object,
    number,
    schema_of,
    text,
)

__all__ = [
    "MAPPING_KEYS",
    "PROVIDER_EXTRA_KEYS",
    "REQUEST_PARAMETERS",
    "check_mapping_config",
    "mapping_config_schema",
    "provider_config_schema",
    "reject_unknown_provider_keys",
]


def _keep_alive(name: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidRequest(f"'{name}' must be a duration such as \"5m\" or seconds",
                             param=name)
    return value


def _pricing(name: str, value: Any) -> Any:
    """``{input_per_mtok, output_per_mtok, cached_input_per_mtok, cache_write_per_mtok}``,
    USD per million tokens."""
    try:
        parse_pricing(value)
    except ValueError as exc:
        raise InvalidRequest(f"'{name}': {exc}", param=name) from None
    return value


_PRICING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {name: {"type": ["number", "string"], "minimum": 0}
                   for name in PRICING_FIELDS},
    "required": ["input_per_mtok", "output_per_mtok"],
    "additionalProperties": False,
}


#: provider-type settings in ``ProviderConfig.extra`` (name → validator)
PROVIDER_EXTRA_KEYS: dict[str, Validator] = {
    "max_response_bytes": integer(1, 1 << 34),          # any type: cap on a whole answer
    "auth_header": text(200),                            # openai/custom: header for the key
    "stream_usage": boolean(),                           # openai/custom: ask for usage
    "anthropic_version": text(100),                      # anthropic
    "default_max_tokens": integer(1, 10_000_000),        # anthropic: when the client gives none
    "options": json_object(),                            # ollama: default model options
    "keep_alive": described(_keep_alive, {"type": ["string", "number"]}),  # ollama
    "response": text(100_000, allow_empty=True),         # mock: fixed answer text
    "tokens": integer(0, 1_000_000),                     # mock: answer length in tokens
    "latency_ms": number(0, 86_400_000),                 # mock: delay before answering
    "chunk_delay_ms": number(0, 86_400_000),             # mock: delay between chunks
    "crash_marker": text(200),                           # mock: prompt text that crashes it
}

#: keys of a mapping's config the gateway reads (never sent upstream; name → validator)
MAPPING_KEYS: dict[str, Validator] = {
    "stream_resume": boolean(),                      # resume a broken stream on the next entry
    "supports_prefill": boolean(),                   # the upstream continues an assistant prefill
    "pricing": described(_pricing, _PRICING_SCHEMA),  # spend: prices of this entry's model
    "weight": number(0.001, 1_000_000, nullable=True),  # groups: share within a group
    "hedge_after_ms": integer(1, 600_000, nullable=True),  # groups: hedge after this long
    "cache_ttl": integer(1, 31_536_000, nullable=True),  # groups: answer cache lifetime, s
}
if set(MAPPING_KEYS) != GATEWAY_MAPPING_KEYS:  # the names are routing's, the checks are ours
    raise RuntimeError("MAPPING_KEYS and proxy.routing.GATEWAY_MAPPING_KEYS disagree")

#: request parameters a mapping may default (sent upstream when the client omits them)
REQUEST_PARAMETERS: frozenset[str] = frozenset({
    # OpenAI chat completions, completions, embeddings
    "audio", "best_of", "dimensions", "echo", "encoding_format", "frequency_penalty",
    "function_call", "functions", "logit_bias", "logprobs", "max_completion_tokens",
    "max_tokens", "metadata", "modalities", "n", "parallel_tool_calls", "prediction",
    "presence_penalty", "prompt_cache_key", "reasoning_effort", "response_format",
    "safety_identifier", "seed", "service_tier", "stop", "store", "stream_options",
    "suffix", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user",
    "verbosity", "web_search_options",
    # Anthropic messages
    "container", "mcp_servers", "stop_sequences", "system", "thinking", "top_k",
})

_CORE_PROVIDER_KEYS = frozenset(f.name for f in fields(ProviderConfig)) - {"extra"}


def _unknown(keys: list[str], where: str, accepted: list[str]) -> InvalidRequest:
    names = ", ".join(f"'{k}'" for k in sorted(keys)[:10])
    return InvalidRequest(
        f"Unknown {where} key(s): {names}. Accepted: {', '.join(sorted(accepted))}.",
        param=f"config.{sorted(keys)[0]}", code="unknown_parameter",
    )


def reject_unknown_provider_keys(config: Mapping[str, Any]) -> None:
    """400 naming every key of a provider ``config`` (and of its ``extra``) no table knows;
    extra settings are type-checked here, core ones by ``ProviderConfig.from_dict``."""
    extra = config.get("extra")
    entries = {k: v for k, v in config.items() if k != "extra"}
    if isinstance(extra, Mapping):
        entries.update(extra)
    unknown = [k for k in entries if k not in _CORE_PROVIDER_KEYS
               and k not in PROVIDER_EXTRA_KEYS]
    if unknown:
        raise _unknown(unknown, "provider config",
                       [*_CORE_PROVIDER_KEYS, *PROVIDER_EXTRA_KEYS])
    for name, value in entries.items():
        if name in PROVIDER_EXTRA_KEYS:
            PROVIDER_EXTRA_KEYS[name](f"config.{name}", value)


def check_mapping_config(config: Mapping[str, Any]) -> None:
    """400 naming every key of a mapping ``config`` that is neither a mapping key nor a
    request parameter; mapping keys are type-checked."""
    unknown = [k for k in config if k not in MAPPING_KEYS and k not in REQUEST_PARAMETERS]
    if unknown:
        raise _unknown(unknown, "mapping config",
                       [*MAPPING_KEYS, "or a request parameter such as temperature"])
    for name, value in config.items():
        if name in MAPPING_KEYS:
            MAPPING_KEYS[name](f"config.{name}", value)


_CORE_SCHEMA: dict[str, dict[str, Any]] = {
    "bool": {"type": "boolean"},
    "int": {"type": "integer", "minimum": 0},
    "float": {"type": "number", "exclusiveMinimum": 0},
}


def provider_config_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for f in fields(ProviderConfig):
        if f.name == "extra":
            continue
        properties[f.name] = _CORE_SCHEMA.get(
            str(f.type), {"type": "object", "additionalProperties": {"type": "string"}})
    properties.update({name: schema_of(check) for name, check in PROVIDER_EXTRA_KEYS.items()})
    return {"type": "object", "properties": properties, "additionalProperties": False}


def mapping_config_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {name: {} for name in sorted(REQUEST_PARAMETERS)}
    properties.update({name: schema_of(check) for name, check in MAPPING_KEYS.items()})
    return {"type": "object", "properties": properties, "additionalProperties": False}
