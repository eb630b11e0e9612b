"""Which rate limits apply to a request, and the ``x-ratelimit-*`` headers.

Scopes: global, tenant (the tenant's own ``rpm_limit`` overrides
``RATE_LIMIT_PER_TENANT_RPM``), client key (its own ``rpm_limit`` overrides
``RATE_LIMIT_PER_KEY_RPM``) and client IP (``X-Forwarded-For`` honoured only from
``TRUSTED_PROXIES``); tokens per minute from the key's ``tpm_limit``, else its tenant's
(one token scope per request).
"""

from __future__ import annotations

import asyncio
import ipaddress
import math

from aiohttp import web

from supervisors.errors import RateLimited

from .auth import ClientKey
from .config import Settings
from .metrics import Metrics
from .ratelimit import Decision, Limit, MemoryRateLimiter, RateLimiter

__all__ = ["Limits", "client_ip"]


def client_ip(request: web.Request, trusted: tuple[ipaddress._BaseNetwork, ...]) -> str:
    peer = request.remote or ""
    if not trusted:
        return peer
    try:
        hop = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    forwarded = request.headers.get("x-forwarded-for")
    if not forwarded or not any(hop in net for net in trusted):
        return peer
    # walk from the nearest hop outwards, skipping our own trusted proxies
    for candidate in reversed([p.strip() for p in forwarded.split(",") if p.strip()]):
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            return peer
        if not any(address in net for net in trusted):
            return str(address)
    return peer


class Limits:
    def __init__(self, limiter: RateLimiter, settings: Settings, metrics: Metrics) -> None:
        self.limiter = limiter
        self._settings = settings
        self._metrics = metrics
        self._per_client: dict[ClientKey, tuple[list[Limit], Limit | None]] = {}

    def _static(self, client: ClientKey) -> tuple[list[Limit], Limit | None]:
        """The scopes that do not depend on the request, built once per client key."""
        found = self._per_client.get(client)
        if found is not None:
            return found
        s = self._settings
        key_rpm = client.rpm_limit if client.rpm_limit is not None else s.rate_limit_per_key_rpm
        limits = []
        if s.rate_limit_global_rpm:
            limits.append(Limit("global", "*", s.rate_limit_global_rpm))
        tenant_rpm = (client.tenant_rpm_limit if client.tenant_rpm_limit is not None
                      else s.rate_limit_per_tenant_rpm)
        if tenant_rpm and client.tenant:
            limits.append(Limit("tenant", client.tenant, tenant_rpm))
        if key_rpm:
            limits.append(Limit("key", str(client.id), key_rpm))
        tokens = _tokens_limit(client)
        if len(self._per_client) > 10_000:  # keys replaced by reloads: start afresh
            self._per_client.clear()
        found = self._per_client[client] = (limits, tokens)
        return found

    async def admit(self, request: web.Request, client: ClientKey) -> dict[str, str]:
        """Admit the request or raise ``RateLimited``; returns headers for the response."""
        static, tokens = self._static(client)
        ip_rpm = self._settings.rate_limit_per_ip_rpm
        if not (static or tokens or ip_rpm):
            return {}
        limits = static
        if ip_rpm:
            limits = [*static, Limit("ip", client_ip(request, self._settings.trusted_proxies),
                                     ip_rpm)]
        decision = await self.limiter.acquire(limits, tokens)
        headers = _headers(decision)
        if not decision.allowed:
            scope = decision.scope or "unknown"
            self._metrics.rate_limited.inc({"scope": scope})
            err = RateLimited(
                f"Rate limit reached for {scope}; retry after {math.ceil(decision.retry_after)} s.",
                retry_after=decision.retry_after,
            )
            err.headers = headers
            raise err
        return headers

    def charge(self, client: ClientKey, usage: dict[str, object] | None,
               background: set[asyncio.Task[None]]) -> None:
        """Charge reported usage to the key's tokens-per-minute budget, after the answer:
        at once in process, or in a task (kept in ``background``) through Redis."""
        tokens = _tokens_limit(client)
        if tokens is None or not usage:
            return
        total = usage.get("total_tokens")
        if not isinstance(total, int):
            prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
            total = (prompt if isinstance(prompt, int) else 0) + (
                completion if isinstance(completion, int) else 0
            )
        if total <= 0:
            return
        if isinstance(self.limiter, MemoryRateLimiter):
            self.limiter.charge_tokens_now(tokens, total)
            return
        task = asyncio.create_task(self.limiter.charge_tokens(tokens, total))
        background.add(task)
        task.add_done_callback(background.discard)


def _tokens_limit(client: ClientKey) -> Limit | None:
    if client.tpm_limit:
        return Limit("key", str(client.id), client.tpm_limit)
    if client.tenant_tpm_limit and client.tenant:
        return Limit("tenant", client.tenant, client.tenant_tpm_limit)
    return None


def _headers(d: Decision) -> dict[str, str]:
    out: dict[str, str] = {}
    if d.limit > 0:
        out["x-ratelimit-limit-requests"] = str(d.limit)
        out["x-ratelimit-remaining-requests"] = str(max(0, d.remaining))
        out["x-ratelimit-reset-requests"] = f"{d.reset:.3f}s"
    if d.tokens_limit:
        out["x-ratelimit-limit-tokens"] = str(d.tokens_limit)
        out["x-ratelimit-remaining-tokens"] = str(max(0, d.tokens_remaining or 0))
        out["x-ratelimit-reset-tokens"] = f"{(d.tokens_reset or 0.0):.3f}s"
    return out
