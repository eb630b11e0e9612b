"""Budgets held in process: reserve the worst case, settle to the actual cost.

Semantics (shared with the Redis ledger, which runs the same steps in one Lua script):

* A ``Budget`` is a limit in nano-dollars for one scope (``key`` id or ``tenant`` name)
  and one period label (``periods``). Its state is ``spent`` (settled) and ``reserved``
  (admitted requests still running).
* ``reserve`` admits a request when, for EVERY budget, ``spent + reserved + amount <=
  limit``; then it adds ``amount`` to every ``reserved`` (all or nothing). Otherwise it
  returns the first budget that does not fit.
* ``settle`` removes the reservation and adds the actual cost to ``spent`` (0 for a
  failed request).
* The first use of a (scope, ident, period) loads its spent from the database (once; a
  concurrent first use waits for the same load), so budgets survive restarts.

All state changes are synchronous (one event-loop step), so concurrent requests cannot
interleave between the check and the reservation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Budget", "MemoryLedger", "Refusal", "SpendKey"]

#: (scope, ident, period label)
SpendKey = tuple[str, str, str]
SpendLoader = Callable[[SpendKey], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Budget:
    scope: str  # "key" | "tenant"
    ident: str
    limit: int  # nano-dollars
    label: str  # period label, e.g. "m:2024-05"
    expires_at: int = 0  # unix seconds after which the period's state may go (0: never)
    #: (scope, ident, label): where its state and spend are kept
    key: SpendKey = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.scope, self.ident, self.label))


@dataclass(frozen=True, slots=True)
class Refusal:
    budget: Budget
    remaining: int  # nano-dollars left for new reservations (may be negative)


class _State:
    __slots__ = ("reserved", "spent")

    def __init__(self, spent: int) -> None:
        self.spent = spent
        self.reserved = 0


class MemoryLedger:
    def __init__(self, load: SpendLoader) -> None:
        self._load = load
        self._states: dict[SpendKey, _State] = {}
        self._loading: dict[SpendKey, asyncio.Future[int]] = {}

    def loaded(self, budgets: Sequence[Budget]) -> bool:
        """Is every budget's state here (then ``take`` needs no await)?"""
        states = self._states
        for budget in budgets:
            if budget.key not in states:
                return False
        return True

    def take(self, budgets: Sequence[Budget], amount: int) -> Refusal | None:
        """``reserve`` for budgets that are all ``loaded``: synchronous."""
        states = self._states
        for budget in budgets:
            state = states[budget.key]
            if state.spent + state.reserved + amount > budget.limit:
                return Refusal(budget, budget.limit - state.spent - state.reserved)
        for budget in budgets:
            states[budget.key].reserved += amount
        return None

    async def reserve(self, budgets: Sequence[Budget], amount: int) -> Refusal | None:
        # a state dropped by a concurrent period rollover while another loaded: load again
        while not self.loaded(budgets):
            for budget in budgets:
                if budget.key not in self._states:
                    await self._ensure(budget.key)
        return self.take(budgets, amount)

    def settle(self, budgets: Sequence[Budget], amount: int, actual: int) -> None:
        for budget in budgets:
            state = self._states.get(budget.key)
            if state is None:
                continue
            state.reserved = max(0, state.reserved - amount)
            state.spent += actual

    def add_spend(self, key: SpendKey, actual: int) -> None:
        """Spend made elsewhere (a Redis outage's settlements): counted if loaded."""
        state = self._states.get(key)
        if state is not None:
            state.spent += actual

    def state(self, key: SpendKey) -> tuple[int, int] | None:
        """(spent, reserved) when loaded here."""
        state = self._states.get(key)
        return None if state is None else (state.spent, state.reserved)

    def forget(self, keep: Callable[[SpendKey], bool]) -> None:
        """Drop idle states that ``keep`` rejects (past periods); they reload on use."""
        for key, state in list(self._states.items()):
            if state.reserved == 0 and not keep(key):
                del self._states[key]

    async def _ensure(self, key: SpendKey) -> None:
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._loading[key] = pending
            try:
                spent = await self._load(key)
            except BaseException as exc:
                pending.set_exception(exc)
                pending.exception()  # retrieved: waiters re-raise their own copy below
                raise
            finally:
                del self._loading[key]
            if key not in self._states:
                self._states[key] = _State(spent)
            pending.set_result(spent)
            return
        await asyncio.shield(pending)
