"""Budget periods roll over at UTC midnight and at the start of the month (injected clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from proxy.auth import ClientKey
from proxy.metrics import Metrics
from proxy.routing import Hop, Route
from proxy.spend.periods import period_end, period_label
from proxy.spend.prices import parse_pricing
from proxy.spend.service import Spend
from supervisors.errors import BudgetExceeded

pytestmark = pytest.mark.timeout(30)


def test_labels_and_ends() -> None:
    t = datetime(2031, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert period_label("day", t) == "d:2031-12-31"
    assert period_label("month", t) == "m:2031-12"
    assert period_label("total", t) == "total"
    assert period_end("day", t) == datetime(2032, 1, 1, tzinfo=UTC)
    assert period_end("month", t) == datetime(2032, 1, 1, tzinfo=UTC)
    assert period_end("total", t) is None
    # calendar UTC, whatever the zone of the clock
    local = datetime(2031, 6, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert period_label("day", local) == "d:2031-05-31"
    assert period_label("month", local) == "m:2031-05"


class _Store:
    """Only what the spend writer and loader use: an in-memory ``spend`` table."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], int] = {}

    async def add_spend(self, rows: Any) -> None:
        for scope, ident, period, nanos in rows:
            self.rows[(scope, ident, period)] = self.rows.get((scope, ident, period), 0) + nanos

    async def get_spend(self, keys: Any) -> dict[tuple[str, str, str], int]:
        return {k: self.rows[k] for k in keys if k in self.rows}


ROUTE = Route("m", (Hop("p", "m", provider_type="custom",
                        pricing=parse_pricing({"input_per_mtok": 0, "output_per_mtok": 1000})),))


@pytest.mark.parametrize(("period", "before", "after"), [
    ("day", datetime(2030, 3, 9, 23, 59, 59, tzinfo=UTC), datetime(2030, 3, 10, tzinfo=UTC)),
    ("month", datetime(2030, 3, 31, 23, 59, tzinfo=UTC), datetime(2030, 4, 1, tzinfo=UTC)),
])
async def test_budget_rolls_over_at_period_start(period: str, before: datetime,
                                                 after: datetime) -> None:
    clock = [before]
    spend = Spend(_Store(), Metrics(), clock=lambda: clock[0].timestamp())  # type: ignore[arg-type]
    # $1000 per MTok output, 1000 output tokens → $1 per request; budget $2
    client = ClientKey(id=1, name="k", tenant=None, is_admin=False, budget_nanos=2 * 10**9,
                       budget_period=period)
    for _ in range(2):
        r = await spend.reserve(client, ROUTE, 1000, 0)
        spend.settle(client, r, 10**9)
    with pytest.raises(BudgetExceeded):
        await spend.reserve(client, ROUTE, 1000, 0)
    clock[0] = after - timedelta(microseconds=1)
    with pytest.raises(BudgetExceeded):
        await spend.reserve(client, ROUTE, 1000, 0)
    clock[0] = after  # a new period: the whole budget again
    r = await spend.reserve(client, ROUTE, 1000, 0)
    assert r is not None
    spend.settle(client, r, 10**9)
    await spend.recorder.flush()
    # total keeps counting across periods
    total = ClientKey(id=1, name="k", tenant=None, is_admin=False, budget_nanos=3 * 10**9,
                      budget_period="total")
    with pytest.raises(BudgetExceeded):
        await spend.reserve(total, ROUTE, 1000, 0)
