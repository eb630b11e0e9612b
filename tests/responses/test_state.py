"""ResponseState on a real SQLite store: read-your-writes before the insert commits, the
conversation across queued and stored responses, scoping, and the bounded look-again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from proxy.responses import state as state_module
from proxy.responses.state import ResponseState, new_response_id
from proxy.store import Store, apply_migrations, open_store
from proxy.store.codec import utc_now
from supervisors.errors import NotFound


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    await asyncio.to_thread(apply_migrations, url)
    opened = await open_store(url)
    try:
        yield opened
    finally:
        await opened.aclose()


def _response(rid: str, text: str) -> dict[str, Any]:
    return {"id": rid, "object": "response", "output": [
        {"id": "msg_" + rid, "type": "message", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": text, "annotations": []}]}]}


def _input(text: str) -> list[dict[str, Any]]:
    return [{"id": "msg_in_" + text, "type": "message", "role": "user",
             "content": [{"type": "input_text", "text": text}]}]


async def test_a_kept_response_is_readable_before_and_after_the_insert(store: Store) -> None:
    state = ResponseState(store, ttl_days=1)
    first, second = new_response_id(), new_response_id()
    state.keep(_response(first, "a1"), "tenant:a", None, _input("q1"))
    assert (await state.get(first, "tenant:a")).response["id"] == first  # from memory
    await state.flush()
    state.keep(_response(second, "a2"), "tenant:a", first, _input("q2"))
    items = await state.conversation(second, "tenant:a")  # queued head, stored tail
    texts = [i["content"][0]["text"] for i in items]
    assert texts == ["q1", "a1", "q2", "a2"]
    await state.flush()
    assert [i["content"][0]["text"] for i in await state.conversation(second, "tenant:a")] \
        == texts
    with pytest.raises(NotFound):
        await state.get(second, "tenant:b")
    with pytest.raises(NotFound) as caught:
        await state.conversation(second, "tenant:b")
    assert caught.value.param == "previous_response_id"


async def test_the_writer_task_stores_in_batches(store: Store) -> None:
    state = ResponseState(store, ttl_days=1)
    writer = asyncio.create_task(state.run())
    try:
        ids = [new_response_id() for _ in range(50)]
        for rid in ids:
            state.keep(_response(rid, "x"), "key:1", None, _input("x"))
        missing = ids
        for _ in range(500):
            missing = [r for r in missing if await store.get_response(r, "key:1", _now()) is None]
            if not missing:
                break
            await asyncio.sleep(0.01)
        assert not missing
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)


def _now() -> datetime:
    return utc_now()


async def test_unknown_ids_are_404_at_once_unless_just_created(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    state = ResponseState(store, ttl_days=1)
    started = time.monotonic()
    with pytest.raises(NotFound):
        await state.get("resp_" + "0" * 48, "key:1")  # created in 1970
    with pytest.raises(NotFound):
        await state.get("not-an-id", "key:1")
    with pytest.raises(NotFound):
        await state.get("resp_" + "f" * 48, "key:1")  # "created" in 2106
    assert time.monotonic() - started < 0.5
    monkeypatch.setattr(state_module, "RECENT_S", 0.3)
    rid = new_response_id()

    async def insert_later() -> None:  # another replica's insert, landing a bit later
        await asyncio.sleep(0.15)
        other = ResponseState(store, ttl_days=1)
        other.keep(_response(rid, "late"), "key:1", None, _input("q"))
        await other.flush()

    late = asyncio.create_task(insert_later())
    found = await state.get(rid, "key:1")
    await late
    assert found.response["output"][0]["content"][0]["text"] == "late"
    started = time.monotonic()
    with pytest.raises(NotFound):
        await state.get(new_response_id(), "key:1")
    assert 0.2 < time.monotonic() - started < 2.5


async def test_delete_waits_for_a_queued_insert_and_is_scoped(store: Store) -> None:
    state = ResponseState(store, ttl_days=1)
    rid = new_response_id()
    state.keep(_response(rid, "x"), "tenant:a", None, _input("x"))
    writer = asyncio.create_task(state.run())
    try:
        with pytest.raises(NotFound):
            await state.delete(rid, "tenant:b")
        await state.delete(rid, "tenant:a")
        with pytest.raises(NotFound):
            await state.get("resp_" + "0" * 48, "tenant:a")
        assert await store.get_response(rid, "tenant:a", _now()) is None
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)


async def test_a_record_that_cannot_be_written_does_not_stop_the_writer(store: Store) -> None:
    state = ResponseState(store, ttl_days=1)
    writer = asyncio.create_task(state.run())
    try:
        bad, good = new_response_id(), new_response_id()
        state.keep({"id": bad, "output": [], "x": {1, 2}}, "key:1", None, _input("x"))  # a set
        await asyncio.sleep(0.1)
        state.keep(_response(good, "fine"), "key:1", None, _input("y"))
        for _ in range(200):
            if await store.get_response(good, "key:1", _now()) is not None:
                break
            await asyncio.sleep(0.01)
        assert await store.get_response(good, "key:1", _now()) is not None
        assert await store.get_response(bad, "key:1", _now()) is None
        assert not writer.done()
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
