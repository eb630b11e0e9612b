"""Model discovery through a provider's own actor: the models its upstream lists.

Uses the provider's key pool (a usable key, round-robin) and transport, with a short
deadline. A failed listing is the operator's question, not traffic: it never touches the
circuit breaker or a key's health.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .adapters.discovery import discovery_request, parse_model_ids
from .errors import ProxyError, Unavailable, UpstreamError, UpstreamTimeout
from .masking import redact_secret, scrub_error

if TYPE_CHECKING:
    from .provider import ProviderSupervisor

__all__ = ["list_models"]

_MAX_LISTING_BYTES = 8 << 20


async def list_models(sup: ProviderSupervisor, *, within: float = 10.0) -> list[str]:
    """Model ids as the upstream lists them (empty for the in-process ``mock``).

    Raises ``UpstreamTimeout`` (no answer in ``within`` s), ``UpstreamError`` (cannot
    connect, an error status or not a model list; the message names the host) or
    ``Unavailable`` (every key is out of rotation)."""
    spec = sup.spec
    key = sup.pool.acquire() if sup.pool.total else None
    if sup.pool.total and key is None:
        raise Unavailable(f"provider {spec.name!r} has no usable upstream key")
    secret = key.secret if key is not None else None
    request = discovery_request(spec, secret)
    if request is None:
        return []
    host = urlsplit(request.url).netloc or request.url
    try:
        async with asyncio.timeout(within):
            resp = await sup.transport.send(
                request, connect_timeout=min(spec.config.connect_timeout, within),
                idle_timeout=None)
            try:
                body = await resp.read(_MAX_LISTING_BYTES)
            finally:
                resp.close()
    except TimeoutError:
        raise UpstreamTimeout(f"{host} did not list its models within {within:g} s",
                              provider=spec.name) from None
    except ProxyError as exc:
        raise UpstreamError(f"could not list models at {host}: {exc.message}",
                            provider=spec.name) from None
    if resp.status >= 400:
        refused = scrub_error(sup.adapter.parse_error(resp.status, body, resp.headers,
                                                      spec.name), sup.secrets)
        detail = redact_secret(refused.message, secret)[:200]
        raise UpstreamError(f"{host} answered HTTP {resp.status} to the model listing: {detail}",
                            provider=spec.name)
    try:
        return parse_model_ids(spec.type, body)
    except ValueError:
        raise UpstreamError(f"{host} did not answer the model listing with a model list",
                            provider=spec.name) from None
