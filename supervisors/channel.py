"""The reply channel of one call: bounded, one producer (the worker), one consumer.

Lighter than ``asyncio.Queue`` for the hot path (no waiter lists, no task-done
bookkeeping) and with deadlines on ``get`` and ``put`` that need no ``asyncio.timeout``
object (a timer exists only while one side actually waits). Items wait in a plain list:
it rarely holds more than one, and an empty ``deque`` costs ~600 bytes more per call.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

__all__ = ["Channel"]

T = TypeVar("T")


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Channel(Generic[T]):
    __slots__ = ("_getter", "_items", "_putter", "maxsize")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: list[T] = []
        self._getter: asyncio.Future[None] | None = None
        self._putter: asyncio.Future[None] | None = None

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: T) -> None:
        if len(self._items) >= self.maxsize:
            raise asyncio.QueueFull
        self._items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    def force(self, item: T) -> None:
        """Deliver ``item`` even when full, dropping the oldest (a final error matters
        more than a chunk nobody will read)."""
        if len(self._items) >= self.maxsize:
            del self._items[0]
        self.put_nowait(item)

    def full(self) -> bool:
        return len(self._items) >= self.maxsize

    async def put(self, item: T, within: float | None = None) -> None:
        """Append ``item``, waiting for room; ``TimeoutError`` when no room came within
        ``within`` seconds (the consumer stopped taking items)."""
        if len(self._items) >= self.maxsize:
            loop = asyncio.get_running_loop()
            until = None if within is None else loop.time() + within
            while len(self._items) >= self.maxsize:
                self._putter = putter = loop.create_future()
                timer = None if until is None else loop.call_at(until, _expire, putter)
                try:
                    await putter
                finally:
                    self._putter = None
                    if timer is not None:
                        timer.cancel()
        self.put_nowait(item)

    def peek(self) -> T | None:
        return self._items[0] if self._items else None

    def get_nowait(self) -> T:
        item = self._items.pop(0)
        putter = self._putter
        if putter is not None and not putter.done():
            putter.set_result(None)
        return item

    async def get(self, within: float | None = None) -> T:
        """The next item; ``TimeoutError`` after ``within`` seconds without one."""
        items = self._items
        if not items:
            loop = asyncio.get_running_loop()
            self._getter = getter = loop.create_future()
            timer = loop.call_later(within, _expire, getter) if within is not None else None
            try:
                await getter
            finally:
                self._getter = None
                if timer is not None:
                    timer.cancel()
        item = items.pop(0)
        putter = self._putter
        if putter is not None and not putter.done():
            putter.set_result(None)
        return item
