"""A TCP relay in front of a real Redis that hands its replies over late: a Redis whose
answers arrive after a caller's deadline although its commands ran (what a busy event
loop or a slow network looks like from our side)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["SlowLink"]


class SlowLink:
    """A relay to the Redis on ``port`` that hands every reply over ``delay`` seconds
    late, in order (``delay`` may change while it runs)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.delay = 0.0
        self.url = ""
        self._relays: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[SlowLink]:
        server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.url = f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0"
        try:
            yield self
        finally:
            server.close()
            if self._relays:  # the clients have gone: each relay ends after a delay
                await asyncio.wait(self._relays, timeout=5.0)

    async def _relay(self, client_r: asyncio.StreamReader,
                     client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        loop = asyncio.get_running_loop()
        redis_r, redis_w = await asyncio.open_connection("127.0.0.1", self.port)
        late: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def requests() -> None:
            while data := await client_r.read(65536):
                redis_w.write(data)
            redis_w.close()

        async def replies() -> None:
            while data := await redis_r.read(65536):
                late.put_nowait((loop.time() + self.delay, data))
            late.put_nowait((loop.time(), b""))

        async def hand_over() -> None:
            while True:
                due, data = await late.get()
                await asyncio.sleep(due - loop.time())
                if not data:
                    break
                client_w.write(data)
            client_w.close()

        try:
            async with asyncio.TaskGroup() as steps:
                for step in (requests, replies, hand_over):
                    steps.create_task(step())
        except* OSError:
            pass  # a side hung up: so does the relay
        finally:
            self._relays.discard(task)
