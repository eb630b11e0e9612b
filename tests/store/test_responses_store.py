"""Stored responses on both backends: scoped reads, the conversation chain, delete, expiry."""

from __future__ import annotations

from datetime import timedelta

from proxy.store import Store
from proxy.store.base import StoredResponse
from proxy.store.codec import utc_now


def _record(rid: str, scope: str = "t1", previous: str | None = None,
            ttl: timedelta = timedelta(days=30)) -> StoredResponse:
    now = utc_now()
    return StoredResponse(
        id=rid, scope=scope, previous_response_id=previous, created_at=now,
        expires_at=now + ttl,
        input_items=[{"id": f"msg_{rid}", "type": "message", "role": "user",
                      "content": [{"type": "input_text", "text": f"hi {rid} ✓"}]}],
        response={"id": rid, "object": "response", "output": []},
    )


async def test_a_stored_response_is_read_back_only_in_its_scope(store: Store) -> None:
    await store.insert_responses([_record("resp_a")])
    got = await store.get_response("resp_a", "t1", utc_now())
    assert got is not None
    assert got.input_items[0]["content"][0]["text"] == "hi resp_a ✓"
    assert got.response == {"id": "resp_a", "object": "response", "output": []}
    assert await store.get_response("resp_a", "t2", utc_now()) is None
    assert await store.get_response("resp_missing", "t1", utc_now()) is None


async def test_the_chain_is_oldest_first_and_stops_at_another_scope(store: Store) -> None:
    await store.insert_responses([_record("r1"), _record("r2", previous="r1"),
                                  _record("r3", previous="r2"), _record("x", scope="t2"),
                                  _record("r4", previous="x")])
    chain = await store.response_chain("r3", "t1", utc_now(), 100)
    assert [r.id for r in chain] == ["r1", "r2", "r3"]
    assert [r.id for r in await store.response_chain("r3", "t1", utc_now(), 1)] == ["r2", "r3"]
    assert await store.response_chain("r3", "t2", utc_now(), 100) == []
    assert [r.id for r in await store.response_chain("r4", "t1", utc_now(), 100)] == ["r4"]


async def test_inserting_the_same_id_twice_keeps_the_first(store: Store) -> None:
    first = _record("dup")
    second = _record("dup", scope="t2")
    await store.insert_responses([first])
    await store.insert_responses([second])
    assert await store.get_response("dup", "t1", utc_now()) is not None
    assert await store.get_response("dup", "t2", utc_now()) is None


async def test_delete_is_scoped(store: Store) -> None:
    await store.insert_responses([_record("d1")])
    assert await store.delete_response("d1", "t2") is False
    assert await store.delete_response("d1", "t1") is True
    assert await store.delete_response("d1", "t1") is False
    assert await store.get_response("d1", "t1", utc_now()) is None


async def test_expired_responses_are_invisible_and_pruned(store: Store) -> None:
    await store.insert_responses([_record("old", ttl=timedelta(seconds=-1)), _record("new")])
    assert await store.get_response("old", "t1", utc_now()) is None
    assert await store.response_chain("old", "t1", utc_now(), 10) == []
    assert await store.prune_responses(utc_now()) == 1
    assert await store.get_response("new", "t1", utc_now()) is not None
