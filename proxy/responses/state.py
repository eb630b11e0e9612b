"""Stored responses: written behind the answer, read back by scope, expired after a TTL.

The answer never waits for the database. ``keep`` queues the record and remembers it in
memory until the writer (one task, batched inserts) has committed it, so this replica
reads its own writes at once. Another replica may be asked for a response a few
milliseconds before the commit lands; response ids carry their creation second, so a
lookup that misses an id created moments ago looks again for a short while instead of
answering 404, while an unknown or old id is a 404 at once.

Scope: a client key's tenant, or ``key:<id>`` for a key without one; every read, chain
and delete is confined to it (anything else is "not found").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from typing import Any

from supervisors.errors import NotFound
from supervisors.inbox import Inbox

from ..auth import ClientKey
from ..store.base import Store, StoredResponse, StoreError
from ..store.codec import utc_now
from .items import random_hex

__all__ = ["ResponseState", "new_response_id", "scope_of"]

log = logging.getLogger("proxy.responses")

#: how long a reader looks again for a response created this recently on another replica
RECENT_S = 5.0
_LOOK_AGAIN_S = 0.05
_MAX_CHAIN = 1000
_BATCH = 256
_WRITE_ATTEMPTS = 3
PRUNE_EVERY_S = 3600.0
_MAX_GONE = 10_000


def new_response_id() -> str:
    """``resp_`` + creation second (8 hex digits) + 40 random hex digits."""
    return f"resp_{int(time.time()):08x}{random_hex(20)}"


def _created_second(response_id: str) -> int | None:
    stamp = response_id[5:13]
    if not response_id.startswith("resp_") or len(stamp) != 8:
        return None
    try:
        return int(stamp, 16)
    except ValueError:
        return None


def scope_of(client: ClientKey) -> str:
    if client.tenant:
        return f"tenant:{client.tenant}"
    return f"key:{client.id}" if client.id is not None else "admin"


def _not_found(response_id: str, param: str | None = None) -> NotFound:
    if param == "previous_response_id":
        return NotFound(f"Previous response with id '{response_id[:80]}' not found.",
                        param=param, code="previous_response_not_found")
    return NotFound(f"Response with id '{response_id[:80]}' not found.", param=param)


class ResponseState:
    def __init__(self, store: Store, *, ttl_days: int, queue_size: int = 10_000) -> None:
        self._store = store
        self._ttl = timedelta(days=ttl_days)
        self._queue: Inbox[StoredResponse] = Inbox(queue_size)
        #: queued or being written: id → record (read-your-writes on this replica)
        self._pending: dict[str, StoredResponse] = {}
        self._written = asyncio.Event()
        #: ids deleted here recently: a 404 at once, without the look-again (bounded)
        self._gone: set[str] = set()

    # -- writing ------------------------------------------------------------------------
    def keep(self, response: dict[str, Any], scope: str, previous: str | None,
             input_items: list[dict[str, Any]], serialised: bytes | None = None) -> None:
        """Queue ``response`` (``serialised``: its JSON, when already made) for storage;
        never blocks the answer."""
        now = utc_now()
        record = StoredResponse(
            id=response["id"], scope=scope, previous_response_id=previous, created_at=now,
            expires_at=now + self._ttl, input_items=input_items, response=response,
            response_json=serialised,
        )
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            log.error("stored-response queue full; response not stored",
                      extra={"response_id": record.id})
            return
        self._pending[record.id] = record

    async def run(self) -> None:
        """The writer: batches of queued records, inserted together."""
        while True:
            batch = [await self._queue.get()]
            while len(batch) < _BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._write(batch)

    async def _write(self, batch: list[StoredResponse]) -> None:
        try:
            for attempt in range(_WRITE_ATTEMPTS):
                try:
                    await self._store.insert_responses(batch)
                    return
                except StoreError as exc:
                    if attempt + 1 == _WRITE_ATTEMPTS:
                        log.error("storing responses failed: %s", exc,
                                  extra={"responses": len(batch)})
                        return
                    await asyncio.sleep(0.2 * (attempt + 1))
                except Exception:  # a record that cannot be written must not stop the writer
                    log.exception("storing responses failed", extra={"responses": len(batch)})
                    return
        finally:
            for record in batch:
                self._pending.pop(record.id, None)
            self._written.set()
            self._written = asyncio.Event()

    async def flush(self) -> None:
        """Write whatever is queued (shutdown)."""
        batch: list[StoredResponse] = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if batch:
            await self._write(batch)

    async def prune_forever(self) -> None:
        while True:
            try:
                removed = await self._store.prune_responses(utc_now())
                if removed:
                    log.info("expired stored responses removed", extra={"removed": removed})
            except StoreError as exc:
                log.warning("pruning stored responses failed: %s", exc)
            await asyncio.sleep(PRUNE_EVERY_S)

    async def _settled(self, response_id: str) -> None:
        """Wait (bounded) until a response queued on this replica is committed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RECENT_S):
                while response_id in self._pending:
                    await self._written.wait()

    # -- reading ------------------------------------------------------------------------
    def _visible(self, record: StoredResponse | None, scope: str) -> StoredResponse | None:
        if record is None or record.scope != scope or record.expires_at <= utc_now():
            return None
        return record

    async def _look(self, response_id: str, read: Any) -> Any:
        """``read()`` until it finds something, looking again while the id is recent."""
        found = await read()
        if response_id in self._gone:
            return found
        created = _created_second(response_id)
        now = time.time()
        if found or created is None or not now - RECENT_S - 1.0 <= created <= now + 1.0:
            return found
        until = time.monotonic() + created + 1.0 + RECENT_S - now
        while not found and time.monotonic() < until:
            await asyncio.sleep(_LOOK_AGAIN_S)
            found = await read()
        return found

    async def get(self, response_id: str, scope: str) -> StoredResponse:
        local = self._visible(self._pending.get(response_id), scope)
        if local is not None:
            return local
        found = await self._exists(response_id)
        if found is None or found.scope != scope:
            raise _not_found(response_id)
        return found

    async def _exists(self, response_id: str) -> StoredResponse | None:
        """The stored response in any scope (a just-created one is waited for): a response
        of another scope is "not found" at once, not after the look-again."""
        found: StoredResponse | None = await self._look(
            response_id, lambda: self._store.get_response(response_id, None, utc_now()))
        return found

    async def conversation(self, previous_id: str, scope: str) -> list[dict[str, Any]]:
        """Every item of the conversation ending with ``previous_id``, oldest first: each
        response's input items, then its output items."""
        chain: list[StoredResponse] = []
        current: str | None = previous_id
        while current is not None and len(chain) < _MAX_CHAIN:
            local = self._visible(self._pending.get(current), scope)
            if local is None:
                break
            chain.append(local)
            current = local.previous_response_id
        if current is not None and len(chain) < _MAX_CHAIN:
            older: list[StoredResponse] = []
            head = await self._exists(current)
            if head is not None and head.scope == scope:
                older = await self._store.response_chain(
                    current, scope, utc_now(), _MAX_CHAIN - len(chain))
            if not older and not chain:
                raise _not_found(previous_id, "previous_response_id")
            chain.extend(reversed(older))
        items: list[dict[str, Any]] = []
        for record in reversed(chain):
            items.extend(record.input_items)
            items.extend(i for i in record.response.get("output") or ()
                         if i.get("type") in ("message", "function_call"))
        return items

    async def input_items(self, response_id: str, scope: str) -> list[dict[str, Any]]:
        """What the response was given, oldest first, as OpenAI lists it: the conversation
        it continued (earlier inputs and outputs) and then its own input items."""
        found = await self.get(response_id, scope)
        earlier: list[dict[str, Any]] = []
        if found.previous_response_id is not None:
            with contextlib.suppress(NotFound):  # the earlier ones expired or were deleted
                earlier = await self.conversation(found.previous_response_id, scope)
        return [*earlier, *found.input_items]

    async def delete(self, response_id: str, scope: str) -> None:
        if self._visible(self._pending.get(response_id), scope) is not None:
            await self._settled(response_id)
        if await self._store.delete_response(response_id, scope):
            if len(self._gone) >= _MAX_GONE:
                self._gone.clear()
            self._gone.add(response_id)
            return
        found = await self._exists(response_id)  # created on another replica a moment ago?
        if found is None or found.scope != scope or not await self._store.delete_response(
                response_id, scope):
            raise _not_found(response_id)
