"""Budget periods in calendar UTC: ``day``, ``month``, or ``total`` (never resets).

A period is named by a label that is also its key in Redis and in the ``spend`` table:
``d:2024-05-01``, ``m:2024-05``, ``total``. ``period_end`` says when it rolls over (the
next UTC midnight / first of the month), so Redis keys can expire after it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["PERIODS", "TOTAL", "period_end", "period_label", "period_labels"]

PERIODS = ("day", "month", "total")
TOTAL = "total"


def period_label(period: str, now: datetime) -> str:
    now = now.astimezone(UTC)
    if period == "day":
        return f"d:{now:%Y-%m-%d}"
    if period == "month":
        return f"m:{now:%Y-%m}"
    return TOTAL


def period_labels(now: datetime) -> tuple[str, str, str]:
    """Every period's label at ``now`` (spend is recorded under all three)."""
    now = now.astimezone(UTC)
    return f"d:{now:%Y-%m-%d}", f"m:{now:%Y-%m}", TOTAL


def period_end(period: str, now: datetime) -> datetime | None:
    """When the period containing ``now`` ends (None for ``total``)."""
    now = now.astimezone(UTC)
    if period == "day":
        return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    if period == "month":
        return datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return None
