"""Spend control for one gateway process: what the pipeline calls at admission and at the
end of every request.

* ``reserve`` (after the route is known, before the router): builds the request's budgets
  (its client key's and its tenant's, for their current periods), reserves the
  worst-case cost (``estimate``) against all of them or raises ``BudgetExceeded`` (429,
  ``insufficient_quota`` / ``budget_exceeded``) before any upstream is called. Keys and
  tenants without a budget return at once: no clock read, no lookup.
* ``cost`` (when the answer is known): the request's cost in nano-dollars from the usage
  the upstream reported and the serving hop's price (``None`` when nothing was counted).
* ``settle`` (the finish step, on every exit): the reservation becomes the actual cost
  (0 for a failed request; a client that left mid-stream pays the reported usage, or an
  estimate of what it was sent), the cost is added to the key's and tenant's persisted
  spend (the pipeline counts ``proxy_cost_usd_total``).

With Redis the reservations live in the shared ledger (one script per call). When Redis
counts as down, and when it is asked again, is the rate limiter's rule
(``ratelimit.outage``): while Redis is up a reservation waits up to ``redis_wait`` for its
answer, so a late answer still decides; three timeouts in a row or a connection failure
turn budgets in-process (fail open), and one reservation per second probes Redis under
the short ``redis_timeout`` until it answers. Every reservation is applied once:

* one Redis did not answer in time may still have run there. It is decided in process and
  keeps its Redis id; its settlement goes to Redis as well, where it releases what the
  script reserved (or, arriving first, keeps the script from reserving anything) and adds
  the cost to the shared spend. A refused or cancelled one is released there at once.
* the in-process ledger holds only what was decided in process; for what Redis decided it
  only counts the settled cost (in step with this replica's spend). When Redis is declared
  down its idle states are dropped, to be loaded again from the database with what the
  other replicas have spent since.
* a settlement made while Redis is down reaches only the database (Redis's figure is
  short by it until its state is reloaded from there); one made after Redis is back also
  adds its cost to the shared spend.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from supervisors.errors import BudgetExceeded

from ..auth import ClientKey
from ..metrics import Metrics
from ..routing import Route
from ..store.base import Store
from .cost import Tokens, cost_nanos, format_usd, tokens_of
from .estimate import Terms, worst_of, worst_terms
from .ledger import Budget, MemoryLedger, Refusal, SpendKey
from .periods import period_end, period_label, period_labels
from .prices import Price, PriceTable
from .recorder import SpendRecorder

if TYPE_CHECKING:  # the redis client is imported only when budgets are shared through it
    from redis.asyncio import Redis

    from ..ratelimit.outage import RedisOutage
    from .redis_ledger import RedisLedger

__all__ = ["Reservation", "Spend"]

log = logging.getLogger("proxy.spend")

_KEEP_AFTER_PERIOD = timedelta(days=2)


@dataclass(slots=True)
class Reservation:
    budgets: tuple[Budget, ...]
    amount: int
    #: its id in the shared (Redis) ledger when Redis holds it or may hold it
    rid: str | None
    #: the in-process ledger holds it (Redis did not decide it)
    local: bool


class Spend:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        redis: Redis | None = None,
        flush_interval: float = 1.0,
        hold: int = 900,
        redis_timeout: float = 0.25,
        redis_wait: float = 2.0,
        redis_backoff: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.prices = PriceTable()
        self.recorder = SpendRecorder(store, interval=flush_interval)
        self.memory = MemoryLedger(self.recorder.load)
        self.redis: RedisLedger | None = None
        self._outage: RedisOutage | None = None
        self._redis_failures: tuple[type[BaseException], ...] = ()
        if redis is not None:
            from ..ratelimit.outage import REDIS_FAILURES, RedisOutage
            from .redis_ledger import RedisLedger

            self.redis = RedisLedger(redis, self.recorder.load, hold=hold)
            self._outage = RedisOutage(timeout=redis_timeout, wait=redis_wait,
                                       backoff=redis_backoff)
            self._redis_failures = REDIS_FAILURES
        self._metrics = metrics
        self._clock = clock  # unix seconds
        self._unpriced: set[tuple[str, str]] = set()
        #: the UTC day (unix seconds, [start, end)) the cached labels are for, and per
        #: (key id, tenant) the spend keys
        self._day = (0.0, 0.0)
        self._labels: dict[str, tuple[str, int]] = {}  # period → (label, expiry)
        self._spend_keys: dict[tuple[int | None, str | None], tuple[SpendKey, ...]] = {}
        #: by the client key's identity (it lives as long as the configuration)
        self._budgets: dict[int, tuple[ClientKey, tuple[Budget, ...]]] = {}
        #: a route's worst-case terms per (route identity, output cap, n)
        self._worst: dict[tuple[int, int | None, int], tuple[Route, Terms]] = {}
        self.recorder.on_tick = self._forget_old

    # -- admission -----------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _roll(self) -> None:
        """Keep the day's period labels and spend keys (formatting dates is the dearest
        part of a settlement otherwise): one clock read while the UTC day lasts."""
        t = self._clock()
        start, end = self._day
        if start <= t < end:
            return
        now = datetime.fromtimestamp(t, UTC)
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC)
        self._day = (midnight.timestamp(), (midnight + timedelta(days=1)).timestamp())
        self._labels = {p: (period_label(p, now), _expiry(p, now))
                        for p in ("day", "month", "total")}
        self._spend_keys.clear()
        self._budgets.clear()

    def budgets(self, client: ClientKey) -> tuple[Budget, ...]:
        if client.budget_nanos is None and client.tenant_budget_nanos is None:
            return ()
        self._roll()
        cached = self._budgets.get(id(client))
        if cached is not None and cached[0] is client:
            return cached[1]
        now = self._now()
        out: list[Budget] = []
        if client.budget_nanos is not None and client.id is not None:
            out.append(self._budget("key", str(client.id), client.budget_nanos,
                                    client.budget_period, now))
        if client.tenant_budget_nanos is not None and client.tenant:
            out.append(self._budget("tenant", client.tenant, client.tenant_budget_nanos,
                                    client.tenant_budget_period, now))
        if len(self._budgets) > 100_000:  # keys replaced by reloads: start afresh
            self._budgets.clear()
        found = tuple(out)
        self._budgets[id(client)] = (client, found)
        return found

    def _budget(self, scope: str, ident: str, limit: int, period: str,
                now: datetime) -> Budget:
        label, expires = self._labels.get(period) or (period_label(period, now),
                                                      _expiry(period, now))
        return Budget(scope, ident, limit, label, expires)

    async def reserve(self, client: ClientKey, route: Route, max_output: int | None,
                      body_size: int, choices: Any = 1) -> Reservation | None:
        """Reserve the worst case, or raise ``BudgetExceeded``; None when unbudgeted.
        Starts loading the built-in price table when the route may need it (the cost of
        the answer is looked up at the end; the worst case of a budget needs it now)."""
        if not self.prices.loaded:
            self.prices.prepare(route.hops)
        budgets = self.budgets(client)
        if not budgets:
            return None
        if not self.prices.loaded:
            await self.prices.ready_for(route.hops)
        amount = worst_of(self._terms(route, max_output, choices), body_size)
        refusal: Refusal | None = None
        rid: str | None = None
        local = True
        outage = self._outage
        deadline = outage.deadline() if outage is not None else None
        if deadline is not None:
            assert self.redis is not None and outage is not None
            probe = outage.down
            rid = self.redis.new_id()
            try:
                refusal = await self.redis.reserve(budgets, amount, rid, wait=deadline)
            except self._redis_failures as exc:
                self._redis_failed(exc, probe)  # it may have run: decided here, released there
            except BaseException:  # cancelled (or the database failed a seed)
                outage.abandoned(probe)
                self._release(budgets, rid)
                raise
            else:
                local = False
                if outage.succeeded(probe):
                    log.warning("budgets: Redis is back; shared budgets resumed")
        if local:
            try:
                refusal = (self.memory.take(budgets, amount) if self.memory.loaded(budgets)
                           else await self.memory.reserve(budgets, amount))
            except BaseException:
                if rid is not None:
                    self._release(budgets, rid)
                raise
        if refusal is not None:
            if local and rid is not None:
                self._release(budgets, rid)
            self._metrics.budget_refused.inc({"scope": refusal.budget.scope})
            raise _exceeded(refusal, amount)
        return Reservation(budgets, amount, rid, local)

    def _terms(self, route: Route, max_output: int | None, choices: Any) -> Terms:
        """``worst_terms``, kept per route (the configuration's routes live until the
        next reload; a request's own chain with ``fallbacks`` is new each time)."""
        # only true ints key it (not a bool, nor anything unhashable a client sent)
        n = choices if type(choices) is int else 1
        key = (id(route), max_output if type(max_output) is int else None, n)
        cached = self._worst.get(key)
        if cached is not None and cached[0] is route:
            return cached[1]
        terms = worst_terms(self.prices, route, key[1], n)
        if len(self._worst) > 10_000:
            self._worst.clear()
        self._worst[key] = (route, terms)
        return terms

    # -- the end of a request ------------------------------------------------------------

    def price(self, route: Route | None, provider: str, model: str) -> Price | None:
        if route is not None:
            for hop in route.hops:
                if hop.provider == provider and hop.model == model:
                    return self.prices.price(hop.provider_type, hop.model, hop.pricing)
            for hop in route.hops:  # same provider, the upstream named another model
                if hop.provider == provider:
                    return self.prices.price(hop.provider_type, model, None)
        return self.prices.builtin("", model)

    def cost(self, route: Route | None, provider: str | None, model: str | None,
             usage: Mapping[str, Any] | None) -> int | None:
        """Nano-dollars from the reported usage; None when there is no usage."""
        tokens = tokens_of(usage)
        if tokens is None or not provider:
            return None
        return self._priced(route, provider, model or "", tokens)

    def estimate(self, route: Route | None, provider: str | None, model: str | None,
                 body_size: int, sent_chunks: int) -> int:
        """What a stream without usage cost so far: ~4 bytes of request per input token,
        one token per content chunk relayed."""
        if not provider:
            return 0
        return self._priced(route, provider, model or "",
                            Tokens(input=body_size // 4, output=sent_chunks))

    def _priced(self, route: Route | None, provider: str, model: str, tokens: Tokens) -> int:
        price = self.price(route, provider, model)
        if price is None:
            self._report_unpriced(provider, model)
        return cost_nanos(price, tokens)

    def settle(self, client: ClientKey, reservation: Reservation | None, cost: int) -> None:
        """Turn the reservation into ``cost`` (nano-dollars) and record the spend."""
        if cost > 0:
            self._roll()
            who = (client.id, client.tenant)
            keys = self._spend_keys.get(who)
            if keys is None:
                labels = [label for label, _ in self._labels.values()]
                found: list[SpendKey] = []
                if client.id is not None:
                    found.extend(("key", str(client.id), label) for label in labels)
                if client.tenant:
                    found.extend(("tenant", client.tenant, label) for label in labels)
                if len(self._spend_keys) > 100_000:
                    self._spend_keys.clear()
                keys = self._spend_keys[who] = tuple(found)
            self.recorder.add(keys, cost)
        if reservation is None:
            return
        budgets = reservation.budgets
        if reservation.local:
            self.memory.settle(budgets, reservation.amount, cost)
        else:
            for budget in budgets:  # keep a warm fallback in step
                self.memory.add_spend(budget.key, cost)
        if self.redis is None:
            return
        if reservation.rid is not None:  # Redis holds it, or may: release it there
            self.redis.settle(budgets, reservation.rid, cost)
        elif cost > 0 and self._outage is not None and not self._outage.down:
            self.redis.settle(budgets, self.redis.new_id(), cost)  # made while Redis was down

    # -- reads and lifecycle ---------------------------------------------------------------

    async def spend_of(self, scope: str, idents: list[str], period: Mapping[str, str]
                       ) -> dict[str, int]:
        """Current-period spend (nano-dollars) per ident; ``period`` maps ident → period."""
        now = self._now()
        keys = [(scope, ident, period_label(period.get(ident, "month"), now))
                for ident in idents]
        found = await self.recorder.load_many(keys)
        return {key[1]: found.get(key, 0) for key in keys}

    async def run(self) -> None:
        await self.recorder.run()

    async def close(self) -> None:
        await self.prices.close()
        if self.redis is not None:
            await self.redis.drain()
        await self.recorder.flush()

    def _forget_old(self) -> None:
        current = set(period_labels(self._now()))
        self.memory.forget(lambda key: key[2] in current)

    def _report_unpriced(self, provider: str, model: str) -> None:
        if (provider, model) in self._unpriced or len(self._unpriced) > 1000:
            return
        self._unpriced.add((provider, model))
        log.info("model unpriced: its requests cost 0 (set the mapping's config.pricing)",
                 extra={"provider": provider, "upstream_model": model})

    @property
    def redis_degraded(self) -> bool:
        """True while budgets are in-process because Redis is down."""
        return self._outage is not None and self._outage.down

    def _release(self, budgets: tuple[Budget, ...], rid: str) -> None:
        assert self.redis is not None
        self.redis.settle(budgets, rid, 0)

    def _redis_failed(self, exc: BaseException, probe: bool) -> None:
        assert self._outage is not None
        if self._outage.failed(exc, probe):
            log.warning("budgets: Redis unavailable (%s); using in-process budgets",
                        type(exc).__name__)
            # what other replicas spent since a state was loaded is in the database
            self.memory.forget(lambda key: False)


def _expiry(period: str, now: datetime) -> int:
    """Unix time after which a period's Redis state may go (0: never)."""
    end = period_end(period, now)
    return int((end + _KEEP_AFTER_PERIOD).timestamp()) if end is not None else 0


def _exceeded(refusal: Refusal, amount: int) -> BudgetExceeded:
    b = refusal.budget
    period = "period" if b.label == "total" else ("day" if b.label.startswith("d:") else "month")
    what = "API key" if b.scope == "key" else "tenant"
    left = format_usd(max(0, refusal.remaining))
    err = BudgetExceeded(
        f"This request could cost up to ${format_usd(amount)}, more than the ${left} left "
        f"in this {what}'s budget for the current {period}.",
    )
    err.headers["x-should-retry"] = "false"  # the official SDKs would retry a 429 otherwise
    return err


