"""``SHARE_CIRCUIT_STATE=true``: a circuit that opens on one replica opens on all.

Circuit state is per replica by default (as Envoy's outlier detection is per host). With
sharing on, a replica whose breaker opens publishes ``{provider, seconds, replica}`` on a
Redis pub/sub channel; every other replica forces its own breaker for that provider open
for the same time, so a dead provider is not probed by every replica in turn. Probes and
closing stay local. Redis being down only turns sharing off until it is back.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import orjson
import redis.asyncio as aioredis

from supervisors.root import RootSupervisor

__all__ = ["CHANNEL", "SharedCircuits"]

log = logging.getLogger("proxy.circuit_share")

CHANNEL = "openai-proxy:circuits"


class SharedCircuits:
    def __init__(self, redis_url: str, root: RootSupervisor) -> None:
        self._redis = aioredis.from_url(redis_url, socket_connect_timeout=1.0,
                                        socket_timeout=2.0)
        self._root = root
        self.replica = uuid.uuid4().hex
        self._pending: set[asyncio.Task[None]] = set()
        self.received = 0

    def publish(self, provider: str, seconds: float) -> None:
        """Called from the supervisor (sync): send without making the caller wait."""
        message = orjson.dumps({"provider": provider, "seconds": seconds,
                                "replica": self.replica})
        task = asyncio.create_task(self._send(message))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, message: bytes) -> None:
        try:
            await self._redis.publish(CHANNEL, message)
        except (aioredis.RedisError, OSError) as exc:
            log.warning("could not share an opened circuit", extra={"error": type(exc).__name__})

    def _apply(self, data: bytes) -> None:
        try:
            event = orjson.loads(data)
            provider, seconds = str(event["provider"]), float(event["seconds"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return
        if event.get("replica") == self.replica:
            return
        sup = self._root.get(provider)
        if sup is not None:
            self.received += 1
            sup.breaker.force_open(seconds)
            log.info("circuit opened by another replica",
                     extra={"provider": provider, "retry_in_seconds": round(seconds, 3)})

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff."""
        backoff = 0.5
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                backoff = 0.5
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None and message.get("type") == "message":
                        self._apply(message["data"])
            except (aioredis.RedisError, OSError):
                await asyncio.sleep(backoff)
                backoff = min(10.0, backoff * 2)
            finally:
                await pubsub.aclose()

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.wait(self._pending, timeout=1.0)
        await self._redis.aclose()
