"""Model discovery per provider type: the request that lists a provider's models and the
parser of its answer. Used by ``openai-proxy check`` to prove connectivity and keys.
Pure translation, like the adapters."""

from __future__ import annotations

import orjson

from ..spec import ProviderSpec
from .anthropic import DEFAULT_VERSION
from .base import UpstreamRequest
from .ollama import parse_tags, tags_request

__all__ = ["discovery_request", "parse_model_ids"]


def discovery_request(spec: ProviderSpec, key: str | None) -> UpstreamRequest | None:
    """The listing request for ``spec``, or None for the in-process ``mock``."""
    headers = {k.lower(): v for k, v in spec.config.headers.items()}
    headers["accept"] = "application/json"
    base = spec.base_url.rstrip("/")
    if spec.type in ("openai", "custom"):
        if key:
            auth = spec.config.extra.get("auth_header")
            if auth:
                headers[str(auth).lower()] = key
            else:
                headers["authorization"] = "Bearer " + key
        return UpstreamRequest("GET", base + "/models", headers)
    if spec.type == "anthropic":
        headers["anthropic-version"] = str(
            spec.config.extra.get("anthropic_version") or DEFAULT_VERSION)
        if key:
            headers["x-api-key"] = key
        return UpstreamRequest("GET", base + "/v1/models", headers)
    if spec.type == "ollama":
        return tags_request(spec, key)
    return None


def parse_model_ids(provider_type: str, body: bytes) -> list[str]:
    """Model ids from a listing answer; ``ValueError`` when it is not one."""
    if provider_type == "ollama":
        return parse_tags(body)
    obj = orjson.loads(body)
    data = obj.get("data") if isinstance(obj, dict) else None
    if not isinstance(data, list):
        raise ValueError("not a model list: no data array")
    return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]
