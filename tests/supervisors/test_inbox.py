"""The inbox queue: FIFO, bounded, many consumers, cancellation never strands an item."""

from __future__ import annotations

import asyncio

import pytest

from supervisors.inbox import Inbox


async def test_fifo_bounded_and_nowait_errors() -> None:
    inbox: Inbox[int] = Inbox(2)
    with pytest.raises(asyncio.QueueEmpty):
        inbox.get_nowait()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert inbox.full() and inbox.qsize() == 2
    with pytest.raises(asyncio.QueueFull):
        inbox.put_nowait(3)
    assert [inbox.get_nowait(), await inbox.get()] == [1, 2]
    assert inbox.empty() and not inbox.full()


async def test_unbounded_when_maxsize_is_zero() -> None:
    inbox: Inbox[int] = Inbox(0)
    for i in range(1000):
        inbox.put_nowait(i)
    assert inbox.qsize() == 1000 and not inbox.full()


async def test_each_item_wakes_one_waiting_consumer_in_order() -> None:
    inbox: Inbox[str] = Inbox(10)
    got: list[tuple[int, str]] = []

    async def consumer(n: int) -> None:
        got.append((n, await inbox.get()))

    tasks = [asyncio.create_task(consumer(n)) for n in range(3)]
    await asyncio.sleep(0)
    for item in "abc":
        inbox.put_nowait(item)
    await asyncio.gather(*tasks)
    assert got == [(0, "a"), (1, "b"), (2, "c")]


async def test_a_consumer_cancelled_after_its_wake_up_passes_it_on() -> None:
    inbox: Inbox[str] = Inbox(10)
    first = asyncio.create_task(inbox.get())
    second = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("x")  # wakes `first` ...
    first.cancel()  # ... which is cancelled before it runs
    assert await asyncio.wait_for(second, 1.0) == "x"
    assert first.cancelled()


async def test_a_cancelled_waiter_is_forgotten() -> None:
    inbox: Inbox[str] = Inbox(10)
    waiter = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    inbox.put_nowait("y")
    assert inbox.get_nowait() == "y"
